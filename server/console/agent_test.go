package console

import (
	"encoding/csv"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// seedAgents adds to the fleet devices whose agents said, or showed,
// something about stopping (besides dev-d, missing, and dev-e, offline,
// which went quiet without saying so):
//
//	dev-f removed-1  said casekeep was being removed 2 hours ago
//	dev-g crashy-1   online; stopped 3 times without saying so, last 6 hours ago
//	dev-h home-1     said the computer was shutting down a day ago
//	dev-i steady-1   online; stopped once without saying so, 40 days ago
//	dev-j stopped-1  said its service was being stopped 3 minutes ago
func (f *fixture) seedAgents() (removedAt, crashedAt, downAt time.Time) {
	f.t.Helper()
	now := f.now
	good := store.State{SealedFiles: 3, SealedBytes: 120_000, DiskEncryption: "pass", Compliant: true}
	removedAt, crashedAt, downAt = now.Add(-2*time.Hour), now.Add(-6*time.Hour), now.Add(-24*time.Hour)
	crash := func(at time.Time) store.Event { return store.Event{Time: at, Type: wire.EventUnannouncedStop} }

	f.device("dev-f", "removed-1", "ann")
	c := &chain{dev: "dev-f"}
	h1, h2 := c.next(removedAt.Add(-time.Hour), good, nil), c.next(removedAt, good, nil)
	h2.Stopping = wire.StopUninstall
	f.ingest(h1, h2)

	f.device("dev-g", "crashy-1", "ann")
	c = &chain{dev: "dev-g"}
	f.ingest(c.next(now.Add(-2*24*time.Hour), good, nil, crash(now.Add(-3*24*time.Hour))),
		c.next(now.Add(-5*time.Hour), good, nil, crash(crashedAt), crash(now.Add(-8*time.Hour))),
		c.next(now.Add(-time.Minute), good, nil))

	f.device("dev-h", "home-1", "ann")
	c = &chain{dev: "dev-h"}
	h := c.next(downAt, good, nil)
	h.Stopping = wire.StopShutdown
	f.ingest(h)

	f.device("dev-i", "steady-1", "ann")
	c = &chain{dev: "dev-i"}
	f.ingest(c.next(now.Add(-39*24*time.Hour), good, nil, crash(now.Add(-40*24*time.Hour))), c.next(now.Add(-2*time.Minute), good, nil))

	f.device("dev-j", "stopped-1", "ann")
	c = &chain{dev: "dev-j"}
	h = c.next(now.Add(-3*time.Minute), good, nil)
	h.Stopping = wire.StopService
	f.ingest(h)
	return removedAt, crashedAt, downAt
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// TestAgentStatusShown: the device page says in plain words what the agent
// said about stopping, or that it went quiet without saying so, and how
// often it stopped without a word; the fleet page counts the agents and
// lists removed, silent and recently crashed ones among those to look at;
// the device list filters by it and exports it.
func TestAgentStatusShown(t *testing.T) {
	f := newFixture(t)
	removedAt, crashedAt, downAt := f.seedAgents()

	for id, want := range map[string]string{
		"dev-a": "Running: its last heartbeat did not say it was stopping.",
		"dev-d": "Missing without saying it was stopping: its last heartbeat did not say the agent was stopping.",
		"dev-e": "Offline without saying it was stopping: its last heartbeat did not say the agent was stopping.",
		"dev-f": "The agent said it was being removed at " + when(removedAt) + ".",
		"dev-g": "Running: its last heartbeat did not say it was stopping. The agent stopped 3 times without saying so (last: " + when(crashedAt) + "): it was killed, crashed or lost power.",
		"dev-h": "The agent said the computer was shutting down at " + when(downAt) + ".",
		"dev-i": "Running: its last heartbeat did not say it was stopping. The agent stopped once without saying so (at " + when(f.now.Add(-40*24*time.Hour)) + "): it was killed, crashed or lost power.",
		"dev-j": "The agent said its service was being stopped at " + when(f.now.Add(-3*time.Minute)) + ".",
	} {
		w := f.do("GET", "/console/devices/"+id, store.RoleAuditor, nil)
		m := regexp.MustCompile(`(?s)<td id="agent-status">(.*?)</td>`).FindStringSubmatch(w.Body.String())
		if w.Code != 200 || m == nil {
			t.Errorf("%s: %d, no agent status", id, w.Code)
			continue
		}
		if got := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""); got != want {
			t.Errorf("%s: agent status %q\nwant %q", id, got, want)
		}
	}
	if body := f.do("GET", "/console/devices/dev-c", store.RoleAuditor, nil).Body.String(); strings.Contains(body, `id="agent-status"`) {
		t.Errorf("a device that never reported has an agent status")
	}

	// The fleet page.
	body := f.do("GET", "/console/", store.RoleAuditor, nil).Body.String()
	for id, n := range map[string]string{"agent-running": "6", "agent-stopped": "1", "agent-shutdown": "1", "agent-removed": "1",
		"agent-silent": "2", "agent-unannounced": "2"} {
		if !regexp.MustCompile(`id="` + id + `">` + n + `<`).MatchString(body) {
			t.Errorf("fleet: %s is not %s", id, n)
		}
	}
	att := body[strings.Index(body, `id="attention"`):]
	att = att[:strings.Index(att, "</table>")]
	reasons := map[string]string{}
	for _, m := range regexp.MustCompile(`<tr><td><a href="/console/devices/[^"]+">([^<]*)</a></td><td>[^<]*</td><td>([^<]*)</td>`).FindAllStringSubmatch(att, -1) {
		reasons[m[1]] = m[2]
	}
	for host, want := range map[string]string{
		"removed-1":  "the agent said it was being removed",
		"crashy-1":   "the agent stopped 3 times without saying so",
		"old-laptop": "missing, went quiet without saying it was stopping",
	} {
		if reasons[host] != want {
			t.Errorf("attention: %s is there for %q, want %q", host, reasons[host], want)
		}
	}
	// laptop-5 is offline without a word: most likely asleep, so not listed.
	for _, host := range []string{"home-1", "steady-1", "stopped-1", "laptop-1", "laptop-5"} {
		if r, ok := reasons[host]; ok {
			t.Errorf("attention: %s is there (%q), want not", host, r)
		}
	}
	// Removed comes before the crashed.
	if i, j := strings.Index(att, "removed-1"), strings.Index(att, "crashy-1"); !(i < j) {
		t.Errorf("attention order: removed at %d, crashed at %d", i, j)
	}

	// The device list's filter.
	for q, want := range map[string]string{
		"removed":     "1 of 10 devices",
		"silent":      "2 of 10 devices",
		"unannounced": "2 of 10 devices",
		"shutdown":    "1 of 10 devices",
		"stopped":     "1 of 10 devices",
		"running":     "6 of 10 devices",
	} {
		w := f.do("GET", "/console/devices?agent="+q, store.RoleAuditor, nil)
		if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, want) || !strings.Contains(body, `<option value="`+q+`" selected>`) {
			t.Errorf("?agent=%s: %d, want %q with the option selected", q, w.Code, want)
		}
	}
	if w := f.do("GET", "/console/devices?agent=asleep", store.RoleAuditor, nil); w.Code != 400 || !strings.Contains(w.Body.String(), `id="error"`) {
		t.Errorf("?agent=asleep: %d", w.Code)
	}
	w := f.do("GET", "/console/devices?agent=unannounced&format=csv", store.RoleAuditor, nil)
	recs, err := csv.NewReader(w.Body).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("csv %q %v", recs, err)
	}
	col := func(name string) int { return slices.Index(recs[0], name) }
	for _, c := range []string{"agent_state", "agent_since", "unannounced_stops", "last_unannounced_stop", "silent"} {
		if col(c) < 0 {
			t.Fatalf("csv has no %s column: %q", c, recs[0])
		}
	}
	if g := recs[1]; g[0] != "dev-g" || g[col("agent_state")] != "running" || g[col("unannounced_stops")] != "3" ||
		g[col("last_unannounced_stop")] != crashedAt.Format(time.RFC3339) || g[col("silent")] != "false" {
		t.Errorf("csv row %q", g)
	}
	w = f.do("GET", "/console/devices?agent=removed&format=csv", store.RoleAuditor, nil)
	recs, _ = csv.NewReader(w.Body).ReadAll()
	if len(recs) != 2 || recs[1][0] != "dev-f" || recs[1][col("agent_state")] != "removed" || recs[1][col("agent_since")] != removedAt.Format(time.RFC3339) {
		t.Errorf("csv of removed: %q", recs)
	}
}

// TestBrowserAgentFilter: in a real browser, the device list's agent
// filter lists the device whose agent was removed, and its page says so.
func TestBrowserAgentFilter(t *testing.T) {
	f := newFixture(t)
	removedAt, _, _ := f.seedAgents()
	b := newTab(t, f)
	b.login(store.RoleAuditor, "/console/devices")
	b.submit(chromedp.SetValue(chromedp.ID("f-agent"), "removed"), chromedp.Click(chromedp.ID("filter")))
	if l := b.location(); !strings.Contains(l, "agent=removed") {
		t.Errorf("filtered at %s", l)
	}
	if got, c := b.count("#devices tbody tr"), b.text("#count"); got != 1 || !strings.HasPrefix(c, "1 of 10 devices") {
		t.Fatalf("filtered: %d rows, %q", got, c)
	}
	if st := b.submit(chromedp.Click(chromedp.CSS(`#devices tbody a`))); st != 200 || b.location() != "/console/devices/dev-f" {
		t.Fatalf("device page: %d at %s", st, b.location())
	}
	if s := b.text("#agent-status"); s != "The agent said it was being removed at "+when(removedAt)+"." {
		t.Errorf("agent status %q", s)
	}
}
