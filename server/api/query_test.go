package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/store"
)

// history feeds a device's heartbeats through Ingest, as the server does.
type history struct {
	t    *testing.T
	st   store.Store
	dev  string
	seq  uint64
	prev []byte
}

func (h *history) beat(at time.Time, s store.State, refs []store.CaseCount, events ...store.Event) {
	h.t.Helper()
	h.seq++
	body := []byte(fmt.Sprintf("%s/%d", h.dev, h.seq))
	sum := sha256.Sum256(body)
	s.Seq, s.Hash, s.SentAt, s.ReceivedAt = h.seq, sum[:], at, at
	for i := range events {
		events[i].DeviceID, events[i].Seq = h.dev, h.seq
	}
	out, err := h.st.Ingest(context.Background(), []store.Heartbeat{{DeviceID: h.dev, Seq: h.seq, Hash: sum[:], PrevHash: h.prev, Body: body, State: s, Events: events, CaseRefs: refs}})
	if err != nil || out[0].Result != store.Accepted {
		h.t.Fatalf("ingest %s #%d: %v %v", h.dev, h.seq, out, err)
	}
	h.prev = sum[:]
}

func refs(n, files int) []store.CaseCount {
	var out []store.CaseCount
	left := files
	for i := range n {
		f := files / n
		if i == n-1 {
			f = left
		}
		left -= f
		out = append(out, store.CaseCount{Ref: fmt.Sprintf("LL-%06d", 100000+i), Files: f})
	}
	return out
}

// lostDay seeds dev-a (careful: all sealed, disk encrypted, no USB) and
// dev-b (plaintext, no disk encryption, an unapproved stick), heartbeats
// every 5 minutes from 09:00 to 13:00 on the day the fixture's clock says.
func lostDay(t *testing.T, f *fixture) time.Time {
	day := f.now.Truncate(24 * time.Hour)
	a := &history{t: t, st: f.st, dev: "dev-a"}
	b := &history{t: t, st: f.st, dev: "dev-b"}
	good := store.State{AgentVersion: "1", PolicyVersion: 3, SealedFiles: 214, SealedBytes: 1 << 30, CaseRefs: 12, DiskEncryption: "pass", Compliant: true, Lease: "none"}
	bad := store.State{AgentVersion: "1", PolicyVersion: 2, SealedFiles: 10, PlaintextFiles: 3, CaseRefs: 2, DiskEncryption: "fail", Lease: "none"}
	for at := day.Add(9 * time.Hour); !at.After(day.Add(13 * time.Hour)); at = at.Add(5 * time.Minute) {
		a.beat(at, good, refs(12, 214))
		var evs []store.Event
		if at.Equal(day.Add(10 * time.Hour)) {
			evs = append(evs, store.Event{Time: at, Type: "storage.volume_unapproved", Detail: `usb 0951:1666 serial "X1" label "STICK"`},
				store.Event{Time: at, Type: "storage.case_file_found", CaseRef: "LL-200001", Detail: "in USB drive STICK (rule: marker)"})
		}
		b.beat(at, bad, refs(2, 10), evs...)
	}
	return day
}

func TestAssessmentStatements(t *testing.T) {
	f := newFixture(t)
	day := lostDay(t, f)
	dpo := f.tokens[store.RoleDPO]
	lost := day.Add(14 * time.Hour).Format(time.RFC3339)
	code, body := f.do("GET", "/api/v1/devices/dev-a/assessment?lost_at="+lost, dpo, nil)
	var as assess.Assessment
	if code != 200 || json.Unmarshal(body, &as) != nil {
		t.Fatalf("%d %s", code, body)
	}
	all := strings.Join(as.Statements, "\n")
	for _, want := range []string{
		"The last heartbeat before the loss was received at " + day.Add(13*time.Hour).Format("2006-01-02 15:04") + " UTC, 1 h before it.",
		"All 214 cached files for 12 case references in its vault were sealed (encrypted) at that time; no plaintext file was waiting to be sealed.",
		"Full-disk encryption of the system volume was on.",
		"No unapproved removable media was reported in the 30 days before the loss.",
		"The heartbeat hash chain has no gaps",
		"The device has not reported since the loss.",
		"not legal advice",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("statements lack %q:\n%s", want, all)
		}
	}
	if len(as.CaseRefs) != 12 || as.CaseRefs[0].Ref != "LL-100000" {
		t.Errorf("case refs %+v", as.CaseRefs)
	}
	// The careless device, lost at 11:00 and found out at 12:00: it
	// reported after, and the 72 hours run from discovery.
	code, body = f.do("GET", "/api/v1/devices/dev-b/assessment?lost_at="+day.Add(11*time.Hour).Format(time.RFC3339)+"&discovered_at="+day.Add(12*time.Hour).Format(time.RFC3339), dpo, nil)
	if code != 200 || json.Unmarshal(body, &as) != nil {
		t.Fatalf("%d %s", code, body)
	}
	all = strings.Join(as.Statements, "\n")
	for _, want := range []string{
		"3 plaintext files were waiting to be sealed",
		"Full-disk encryption of the system volume was OFF.",
		"1 unapproved removable volume was reported in the 30 days before the loss.",
		"1 case file was found outside the vault",
		"The device reported again after the loss",
		"end at " + day.Add(12*time.Hour+72*time.Hour).Format("2006-01-02 15:04") + " UTC",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("statements lack %q:\n%s", want, all)
		}
	}
	// CSV and printable HTML; the HTML escapes what devices reported.
	code, body = f.do("GET", "/api/v1/devices/dev-b/assessment?format=csv&lost_at="+lost, dpo, nil)
	if recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll(); code != 200 || err != nil || len(recs) < 10 {
		t.Errorf("csv %d %v", code, err)
	}
	code, body = f.do("GET", "/api/v1/devices/dev-b/assessment?format=html&lost_at="+lost, dpo, nil)
	if code != 200 || strings.Contains(string(body), "<script>") || !strings.Contains(string(body), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("html %d:\n%.600s", code, body)
	}
	// An auditor may not run it; without a time of loss it is refused;
	// viewing it is audited.
	if code, _ := f.do("GET", "/api/v1/devices/dev-a/assessment?lost_at="+lost, f.tokens[store.RoleAuditor], nil); code != 403 {
		t.Errorf("auditor: %d", code)
	}
	if code, _ := f.do("GET", "/api/v1/devices/dev-a/assessment", dpo, nil); code != 400 {
		t.Errorf("no time of loss: %d", code)
	}
	_, body = f.do("GET", "/api/v1/audit", dpo, nil)
	if !strings.Contains(string(body), `"Action": "report.view"`) {
		t.Errorf("assessment views not audited: %s", body)
	}
}

func TestCasesEventsAndCompliance(t *testing.T) {
	f := newFixture(t)
	day := lostDay(t, f)
	aud := f.tokens[store.RoleAuditor]
	var hs []store.Holding
	_, body := f.do("GET", "/api/v1/cases/LL-100001/devices", aud, nil)
	if err := json.Unmarshal(body, &hs); err != nil || len(hs) != 2 || hs[0].DeviceID != "dev-a" || !hs[0].Held {
		t.Errorf("holders %s", body)
	}
	var evs []store.Event
	_, body = f.do("GET", "/api/v1/events?type=storage.&from="+day.Format(time.RFC3339), aud, nil)
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) != 2 || evs[0].DeviceID != "dev-b" {
		t.Errorf("events %s", body)
	}
	_, body = f.do("GET", "/api/v1/events?type=storage.volume_unapproved&device=dev-a&from="+day.Format(time.RFC3339), aud, nil)
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) != 0 {
		t.Errorf("events for dev-a %s", body)
	}
	// Compliance at 08:00 (before any heartbeat) and at 12:00.
	var ds []api_DeviceView
	_, body = f.do("GET", "/api/v1/devices?at="+day.Add(8*time.Hour).Format(time.RFC3339), aud, nil)
	if err := json.Unmarshal(body, &ds); err != nil || len(ds) != 3 || ds[0].PolicyVersion != 0 || ds[0].Liveness != "unknown" {
		t.Errorf("at 08:00 %s", body)
	}
	_, body = f.do("GET", "/api/v1/devices?compliant=false&at="+day.Add(12*time.Hour).Format(time.RFC3339), aud, nil)
	if err := json.Unmarshal(body, &ds); err != nil || len(ds) != 2 {
		t.Errorf("non-compliant at 12:00 %s", body)
	}
	if code, _ := f.do("GET", "/api/v1/devices?at=yesterday", aud, nil); code != 400 {
		t.Errorf("bad at: %d", code)
	}
	if code, _ := f.do("GET", "/api/v1/events?limit=0", aud, nil); code != 400 {
		t.Errorf("bad limit: %d", code)
	}
}

type api_DeviceView struct {
	ID            string `json:"id"`
	Liveness      string `json:"liveness"`
	Compliant     bool   `json:"compliant"`
	PolicyVersion int    `json:"policy_version"`
}
