package console

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

// seedLarge adds n devices with 30 days of history each: a heartbeat
// every 3 days (a state change on each), 2 events on each, 5 case
// references; one in ten holds plaintext, one in seven is non-compliant,
// one in twenty has been silent for 40 days.
func (f *fixture) seedLarge(n int) {
	f.t.Helper()
	var batch []store.Heartbeat
	flush := func() {
		if len(batch) > 0 {
			f.ingest(batch...)
			batch = batch[:0]
		}
	}
	for i := range n {
		id := fmt.Sprintf("fleet-%04d", i)
		f.device(id, fmt.Sprintf("LAPTOP-%04d", i), fmt.Sprintf("worker%03d", i%150))
		c := &chain{dev: id}
		last := f.now.Add(-time.Duration(i%5) * time.Minute)
		if i%20 == 0 {
			last = f.now.Add(-40 * 24 * time.Hour)
		}
		for k := 10; k >= 0; k-- {
			at := last.Add(-time.Duration(k) * 3 * 24 * time.Hour)
			st := store.State{SealedFiles: int64(20 + 10 - k), SealedBytes: int64(1_000_000 * (20 + 10 - k)), DiskEncryption: "pass", Compliant: i%7 != 0}
			if i%10 == 0 && k == 0 {
				st.PlaintextFiles = 1
			}
			var refs []store.CaseCount
			for j := range 5 {
				refs = append(refs, store.CaseCount{Ref: fmt.Sprintf("LL-%06d", (i*5+j)%1200), Files: 1 + j + (10-k)%3})
			}
			batch = append(batch, c.next(at, st, refs,
				store.Event{Time: at.Add(-time.Hour), Type: "sweep.case_file_found", CaseRef: refs[0].Ref, Detail: "Downloads"},
				store.Event{Time: at.Add(-30 * time.Minute), Type: "storage.volume_unapproved", Detail: "USB 0781:5567"}))
		}
		if len(batch) >= 500 {
			flush()
		}
	}
	flush()
}

// TestRenderTimes renders each page on a fleet of 500 devices and logs how
// long it takes (the median of 5). The target is 200 ms a page; the test
// fails only far beyond it (slow shared machines, the race detector).
func TestRenderTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 500 devices")
	}
	f := newFixture(t)
	start := time.Now()
	f.seedLarge(500)
	t.Logf("seeded 500 devices (5,500 heartbeats, 11,000 events) in %v", time.Since(start).Round(time.Millisecond))
	for i := range 20 {
		if w := f.do("POST", fmt.Sprintf("/console/devices/fleet-%04d/lost", i*25), store.RoleITSecurity, lostForm(f)); w.Code != 303 {
			t.Fatalf("mark lost: %d", w.Code)
		}
	}
	at := url.QueryEscape(f.now.Add(-10 * 24 * time.Hour).Format(time.RFC3339))
	pages := []string{
		"/console/",
		"/console/devices",
		"/console/devices?liveness=online&compliant=false",
		"/console/devices?format=csv",
		"/console/devices/fleet-0025",
		"/console/devices/fleet-0025/assessment",
		"/console/cases?ref=LL-000042",
		"/console/compliance?at=" + at,
		"/console/events?type=storage.",
		"/console/events?device=fleet-0100",
		"/console/audit",
	}
	var worst time.Duration
	for _, p := range pages {
		var times []time.Duration
		var size int
		for range 5 {
			t0 := time.Now()
			w := f.do("GET", p, store.RoleITSecurity, nil)
			times = append(times, time.Since(t0))
			if w.Code != 200 {
				t.Fatalf("GET %s: %d", p, w.Code)
			}
			size = w.Body.Len()
		}
		slices.Sort(times)
		med := times[len(times)/2]
		worst = max(worst, med)
		t.Logf("%-52s %7.1f ms  (%d KiB)", p, float64(med.Microseconds())/1000, size/1024)
		if med > 3*time.Second {
			t.Errorf("GET %s took %v", p, med)
		}
	}
	t.Logf("slowest page: %v (target 200 ms)", worst.Round(100*time.Microsecond))
}
