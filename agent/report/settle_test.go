package report_test

import (
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// settleDevice is a device whose vault counts a test changes, as the
// agent's vault would, and which notes when each heartbeat's snapshot is
// taken.
type settleDevice struct {
	mu     sync.Mutex
	sealed int64
	made   []time.Time // when each heartbeat's snapshot was taken
}

func (d *settleDevice) snapshot() report.Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.made = append(d.made, time.Now())
	return report.Snapshot{AgentVersion: "test", Lease: "none", Vault: wire.Vault{Files: d.sealed, CaseRefs: []wire.CaseCount{}}}
}

// seal is one file sealed: the count changes, an event is queued and it
// is notable, as the agent's vault sink does.
func (d *settleDevice) seal(r *report.Reporter) {
	d.mu.Lock()
	d.sealed++
	d.mu.Unlock()
	r.Event(wire.Event{Time: time.Now().UTC(), Type: wire.EventVaultSealed, CaseRef: "LL-1"})
	r.Notable()
}

func (d *settleDevice) times() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.made...)
}

// checkGaps fails the test if two heartbeats were made less than min
// apart: the rate bound, which holds whatever the timing.
func checkGaps(t *testing.T, made []time.Time, least time.Duration) {
	t.Helper()
	for i := 1; i < len(made); i++ {
		if gap := made[i].Sub(made[i-1]); gap < least {
			t.Errorf("heartbeats %d and %d made %v apart, under NotableMin %v", i-1, i, gap, least)
		}
	}
}

// TestSettleBurst: a burst of sealed files yields one heartbeat, made when
// the burst has settled, whose vault counts show them all sealed; a second
// burst inside the cooldown yields exactly one more, after the cooldown.
func TestSettleBurst(t *testing.T) {
	const cooldown = time.Second
	f := newFake(t)
	d := &settleDevice{}
	r, _ := reporter(t, f, d.snapshot, func(c *report.Config) {
		c.NotableMin, c.SettleQuiet, c.SettleMax = cooldown, 100*time.Millisecond, 3*time.Second
	})
	run(t, r)
	testenv.Eventually(t, "the heartbeat at start", func() bool { return len(f.Received()) == 1 })

	for range 20 {
		d.seal(r)
	}
	testenv.Eventually(t, "a heartbeat with the 20 sealed", func() bool { return len(f.Received()) >= 2 })
	got := f.Received()
	if len(got) != 2 || got[1].Vault.Files != 20 {
		t.Fatalf("after the first burst: %d heartbeats, the last with %d files; want 2, with 20", len(got), got[len(got)-1].Vault.Files)
	}
	if n := countType(got[1], wire.EventVaultSealed); n != 20 {
		t.Errorf("the settle heartbeat carries %d sealed events, want 20", n)
	}

	// A second burst at once: inside the cooldown of the one just made.
	for range 5 {
		d.seal(r)
	}
	testenv.Eventually(t, "a heartbeat with the 25 sealed", func() bool { return len(f.Received()) >= 3 })
	// Nothing else is due: the interval is an hour. Wait out a cooldown and
	// a SettleMax to see that no other heartbeat comes.
	time.Sleep(cooldown + 3*time.Second + 500*time.Millisecond)
	got = f.Received()
	if len(got) != 3 || got[2].Vault.Files != 25 {
		t.Fatalf("after the second burst: %d heartbeats, the last with %d files; want 3, with 25", len(got), got[len(got)-1].Vault.Files)
	}
	checkGaps(t, d.times(), cooldown)
}

// TestSettleTrickle: a steady trickle of notable events cannot make
// heartbeats more often than NotableMin, yet heartbeats still come during
// it (SettleMax after a burst's first event), and the last one, once it
// stops, reports the final count.
func TestSettleTrickle(t *testing.T) {
	const cooldown = 300 * time.Millisecond
	f := newFake(t)
	d := &settleDevice{}
	r, _ := reporter(t, f, d.snapshot, func(c *report.Config) {
		c.NotableMin, c.SettleQuiet, c.SettleMax = cooldown, 100*time.Millisecond, 200*time.Millisecond
	})
	run(t, r)
	testenv.Eventually(t, "the heartbeat at start", func() bool { return len(f.Received()) == 1 })
	const trickle = 3 * time.Second
	start := time.Now()
	n := int64(0)
	for time.Since(start) < trickle {
		d.seal(r) // never quiet for SettleQuiet
		n++
		time.Sleep(20 * time.Millisecond)
	}
	during := len(d.times())
	testenv.Eventually(t, "the final count reported", func() bool {
		h := f.Last()
		return h != nil && h.Vault.Files == n
	})
	made := d.times()
	checkGaps(t, made, cooldown)
	if max := 1 + int(trickle/cooldown) + 2; len(made) > max {
		t.Errorf("%d heartbeats for a trickle of %v, over the bound %d", len(made), trickle, max)
	}
	if during < 3 {
		t.Errorf("only %d heartbeats during a %v trickle: SettleMax should have made some", during, trickle)
	}
	t.Logf("%d events over %v: %d heartbeats", n, trickle, len(made))
}

func countType(h *wire.Heartbeat, typ string) int {
	n := 0
	for _, e := range h.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}
