package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/api"
	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/store"
)

// withPolicy serves the fixture's API again with the policy in force, so
// that liveness (and with it "silent") is known.
func withPolicy(t *testing.T, f *fixture) {
	t.Helper()
	f.policy = true
	f.r.Stop()
	f.r.Start()
}

// beatStopping is a heartbeat made at made, received at received, that
// says the agent is stopping (or not, with "").
func (h *history) beatStopping(made, received time.Time, stopping string, events ...store.Event) {
	h.t.Helper()
	h.seq++
	body := []byte(fmt.Sprintf("%s/%d", h.dev, h.seq))
	hash := sha256.Sum256(body)
	sum := hash[:]
	s := store.State{Seq: h.seq, Hash: sum, SentAt: made, ReceivedAt: received, AgentVersion: "1", PolicyVersion: 3,
		DiskEncryption: "pass", Compliant: true, Lease: "none"}
	out, err := h.st.Ingest(context.Background(), []store.Heartbeat{{DeviceID: h.dev, Seq: h.seq, Hash: sum, PrevHash: h.prev,
		Body: body, State: s, Events: events, Stopping: stopping}})
	if err != nil || out[0].Result != store.Accepted {
		h.t.Fatalf("ingest %s #%d: %v %v", h.dev, h.seq, out, err)
	}
	h.prev = sum
}

// TestDevicesAgent: each device's JSON carries what its agent said about
// stopping, and "silent" for one that went quiet without saying so; the
// agent filter selects by it; the CSV has the columns; a list of states
// at a time leaves the agent out.
func TestDevicesAgent(t *testing.T) {
	f := newFixture(t)
	withPolicy(t, f)
	ctx := context.Background()
	for _, id := range []string{"dev-d", "dev-e", "dev-f"} {
		if err := f.st.CreateDevice(ctx, store.Device{ID: id, SigningKey: make([]byte, 32), Hostname: "host-" + id, OS: "linux", User: "ann", EnrolledAt: f.now.Add(-48 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	removedAt := f.now.Add(-3*time.Hour - 2*time.Second)
	crashAlive := f.now.Add(-26 * time.Hour)
	// dev-a: runs, online, but stopped twice without a word before.
	a := &history{t: t, st: f.st, dev: "dev-a"}
	a.beatStopping(f.now.Add(-2*time.Minute), f.now.Add(-2*time.Minute), "",
		store.Event{Time: crashAlive.Add(-time.Hour), Type: wire.EventUnannouncedStop}, store.Event{Time: crashAlive, Type: wire.EventUnannouncedStop})
	// dev-b: said it was being removed three hours ago: offline, not silent.
	b := &history{t: t, st: f.st, dev: "dev-b"}
	b.beatStopping(removedAt.Add(-time.Hour), removedAt.Add(-time.Hour), "")
	b.beatStopping(removedAt, removedAt.Add(time.Second), wire.StopUninstall)
	// dev-c never reports. dev-d: went quiet two hours ago without a word.
	d := &history{t: t, st: f.st, dev: "dev-d"}
	d.beatStopping(f.now.Add(-2*time.Hour), f.now.Add(-2*time.Hour), "")
	// dev-e: shut down a day ago. dev-f: its service stopped a minute ago.
	e := &history{t: t, st: f.st, dev: "dev-e"}
	e.beatStopping(f.now.Add(-24*time.Hour), f.now.Add(-24*time.Hour), wire.StopShutdown)
	g := &history{t: t, st: f.st, dev: "dev-f"}
	g.beatStopping(f.now.Add(-time.Minute), f.now.Add(-time.Minute), wire.StopService)

	tok := f.tokens[store.RoleAuditor]
	list := func(q string) map[string]api.DeviceView {
		t.Helper()
		code, body := f.do("GET", "/api/v1/devices"+q, tok, nil)
		var vs []api.DeviceView
		if code != 200 || json.Unmarshal(body, &vs) != nil {
			t.Fatalf("GET devices%s: %d %s", q, code, body)
		}
		m := map[string]api.DeviceView{}
		for _, v := range vs {
			m[v.ID] = v
		}
		return m
	}
	all := list("")
	for id, want := range map[string]struct {
		state, liveness string
		silent          bool
		since           time.Time
		stops           int64
		last            time.Time
	}{
		"dev-a": {"running", "online", false, time.Time{}, 2, crashAlive},
		"dev-b": {"removed", "offline", false, removedAt, 0, time.Time{}},
		"dev-c": {"never", "never", false, time.Time{}, 0, time.Time{}},
		"dev-d": {"running", "offline", true, time.Time{}, 0, time.Time{}},
		"dev-e": {"shutdown", "offline", false, f.now.Add(-24 * time.Hour), 0, time.Time{}},
		"dev-f": {"stopped", "online", false, f.now.Add(-time.Minute), 0, time.Time{}},
	} {
		v, ok := all[id]
		if !ok || v.Agent == nil {
			t.Errorf("%s: %+v, no agent", id, v)
			continue
		}
		g := v.Agent
		if g.State != want.state || v.Liveness != want.liveness || v.Silent != want.silent || !g.Since.Equal(want.since) ||
			g.UnannouncedStops != want.stops || !g.LastUnannouncedStop.Equal(want.last) {
			t.Errorf("%s: liveness %s silent %v agent %+v; want %+v", id, v.Liveness, v.Silent, *g, want)
		}
	}

	// The JSON's shape.
	_, body := f.do("GET", "/api/v1/devices/dev-b", tok, nil)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	wantAgent := fmt.Sprintf(`{"state":"removed","since":%q,"unannounced_stops":0}`, removedAt.Format(time.RFC3339Nano))
	var compact bytes.Buffer
	json.Compact(&compact, raw["agent"])
	if compact.String() != wantAgent || string(raw["silent"]) != "false" {
		t.Errorf("dev-b: agent %s silent %s; want agent %s silent false", compact.String(), raw["silent"], wantAgent)
	}
	_, body = f.do("GET", "/api/v1/devices/dev-d", tok, nil)
	raw = nil
	json.Unmarshal(body, &raw)
	compact.Reset()
	json.Compact(&compact, raw["agent"])
	if compact.String() != `{"state":"running","unannounced_stops":0}` || string(raw["silent"]) != "true" {
		t.Errorf("dev-d: agent %s silent %s", compact.String(), raw["silent"])
	}

	// The filter.
	for q, want := range map[string][]string{
		"running":     {"dev-a", "dev-d"},
		"stopped":     {"dev-f"},
		"shutdown":    {"dev-e"},
		"removed":     {"dev-b"},
		"silent":      {"dev-d"},
		"unannounced": {"dev-a"},
	} {
		var got []string
		for id := range list("?agent=" + q) {
			got = append(got, id)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("?agent=%s: %v, want %v", q, got, want)
		}
	}
	if got := list("?agent=running&liveness=offline"); len(got) != 1 || got["dev-d"].ID == "" {
		t.Errorf("?agent=running&liveness=offline: %v", got)
	}
	for _, q := range []string{"agent=asleep", "agent=Removed", "agent=removed&at=2026-11-22T10:00:00Z"} {
		if code, body := f.do("GET", "/api/v1/devices?"+q, tok, nil); code != 400 {
			t.Errorf("?%s: %d %s, want 400", q, code, body)
		}
	}

	// The CSV.
	code, body := f.do("GET", "/api/v1/devices?format=csv&agent=removed", tok, nil)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != 2 {
		t.Fatalf("csv: %d %q %v", code, recs, err)
	}
	row := map[string]string{}
	for i, h := range recs[0] {
		row[h] = recs[1][i]
	}
	if row["id"] != "dev-b" || row["agent_state"] != "removed" || row["agent_since"] != removedAt.Format(time.RFC3339) ||
		row["unannounced_stops"] != "0" || row["last_unannounced_stop"] != "" || row["silent"] != "false" {
		t.Errorf("csv row %v", row)
	}
	_, body = f.do("GET", "/api/v1/devices?format=csv&agent=unannounced", tok, nil)
	recs, _ = csv.NewReader(bytes.NewReader(body)).ReadAll()
	if len(recs) != 2 || recs[1][slices.Index(recs[0], "last_unannounced_stop")] != crashAlive.Format(time.RFC3339) ||
		recs[1][slices.Index(recs[0], "unannounced_stops")] != "2" {
		t.Errorf("csv of unannounced: %q", recs)
	}

	// States at a time: the history does not say what the agent said.
	at := list("?at=" + f.now.Add(-time.Hour).Format(time.RFC3339))
	for id, v := range at {
		if v.Agent != nil || v.Silent {
			t.Errorf("?at=: %s has agent %+v, silent %v", id, v.Agent, v.Silent)
		}
	}
}

// TestAssessmentAgent: the lost-device assessment states, as facts, that
// the agent said it was being removed before the loss, and how often it
// stopped without saying so before the loss; neither when it did not.
func TestAssessmentAgent(t *testing.T) {
	f := newFixture(t)
	day := f.now.Truncate(24 * time.Hour)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	a := &history{t: t, st: f.st, dev: "dev-a"}
	a.beatStopping(at(9, 0), at(9, 0), "", store.Event{Time: at(8, 30), Type: wire.EventUnannouncedStop})
	a.beatStopping(at(9, 30), at(9, 30), "", store.Event{Time: at(9, 10), Type: wire.EventUnannouncedStop})
	a.beatStopping(at(10, 0), at(10, 0), wire.StopUninstall)
	b := &history{t: t, st: f.st, dev: "dev-b"}
	b.beatStopping(at(9, 0), at(9, 0), "")
	b.beatStopping(at(10, 0), at(10, 0), "")

	assessment := func(dev string, lost time.Time) *assess.Assessment {
		t.Helper()
		code, body := f.do("GET", "/api/v1/devices/"+dev+"/assessment?lost_at="+lost.Format(time.RFC3339), f.tokens[store.RoleDPO], nil)
		var as assess.Assessment
		if code != 200 || json.Unmarshal(body, &as) != nil {
			t.Fatalf("%d %s", code, body)
		}
		return &as
	}
	removed := "The agent's last heartbeat, made at " + at(10, 0).Format("2006-01-02 15:04") + " UTC, before the loss, said casekeep was being removed from the device."
	for _, c := range []struct {
		dev      string
		lost     time.Time
		want     []string
		dontWant []string
		stops    int
		stopping string
	}{
		{"dev-a", at(11, 0), []string{removed,
			"Before the loss the agent stopped 2 times without saying so (it was killed, crashed or lost power): the last such run was last known alive at " + at(9, 10).Format("2006-01-02 15:04") + " UTC."},
			nil, 2, wire.StopUninstall},
		{"dev-a", at(9, 50), []string{"Before the loss the agent stopped 2 times without saying so",
			"The agent's last heartbeat, made at " + at(10, 0).Format("2006-01-02 15:04") + " UTC, after the loss, said casekeep was being removed from the device."},
			[]string{"before the loss, said"}, 2, wire.StopUninstall},
		{"dev-a", at(9, 0), []string{"Before the loss the agent stopped once without saying so (it was killed, crashed or lost power): that run was last known alive at " + at(8, 30).Format("2006-01-02 15:04") + " UTC."},
			[]string{"before the loss, said", "2 times"}, 1, wire.StopUninstall},
		{"dev-b", at(11, 0), nil, []string{"removed", "without saying so", "last heartbeat, made"}, 0, ""},
	} {
		as := assessment(c.dev, c.lost)
		all := strings.Join(as.Statements, "\n")
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s lost at %v: statements lack %q:\n%s", c.dev, c.lost, w, all)
			}
		}
		for _, w := range c.dontWant {
			if strings.Contains(all, w) {
				t.Errorf("%s lost at %v: statements say %q:\n%s", c.dev, c.lost, w, all)
			}
		}
		if len(as.UnannouncedStops) != c.stops || as.AgentStopping != c.stopping {
			t.Errorf("%s lost at %v: %d unannounced stops, stopping %q; want %d, %q", c.dev, c.lost, len(as.UnannouncedStops), as.AgentStopping, c.stops, c.stopping)
		}
	}
	code, body := f.do("GET", "/api/v1/devices/dev-a/assessment?format=csv&lost_at="+at(11, 0).Format(time.RFC3339), f.tokens[store.RoleDPO], nil)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil {
		t.Fatalf("csv %d %v", code, err)
	}
	want := [][]string{{"agent", "stopping", "uninstall"}, {"agent", "stopping_at", at(10, 0).Format(time.RFC3339)},
		{"agent", "unannounced_stops", "2"}, {"agent_unannounced_stop", at(9, 10).Format(time.RFC3339), ""}}
	for _, w := range want {
		if !slices.ContainsFunc(recs, func(r []string) bool { return slices.Equal(r, w) }) {
			t.Errorf("csv lacks %q:\n%q", w, recs)
		}
	}
}
