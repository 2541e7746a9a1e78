package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
)

// unannounced is the event an agent reports when its previous run ended
// without a stopping heartbeat, last known alive at alive.
func unannounced(alive time.Time) store.Event {
	return store.Event{Time: alive, Type: wire.EventUnannouncedStop, Detail: "the previous run did not say it was stopping"}
}

func sameAgent(t *testing.T, what string, got, want store.Agent) {
	t.Helper()
	if got.Stopping != want.Stopping || got.UnannouncedStops != want.UnannouncedStops {
		t.Errorf("%s: agent = %+v\nwant %+v", what, got, want)
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{{"stopping at", got.StoppingAt, want.StoppingAt}, {"last unannounced stop", got.LastUnannouncedStop, want.LastUnannouncedStop}} {
		if c.want.IsZero() {
			if !c.got.IsZero() {
				t.Errorf("%s: %s = %v, want none", what, c.name, c.got)
			}
			continue
		}
		sameTime(t, what+": "+c.name, c.got, c.want)
	}
}

// agentOf reads a device's Agent both ways the API and console do: alone
// and in the list of every device; the two must agree.
func agentOf(t *testing.T, s store.Store, id string) store.Agent {
	t.Helper()
	r, err := s.Device(t.Context(), id)
	ok(t, err)
	all, err := s.Devices(t.Context())
	ok(t, err)
	i := slices.IndexFunc(all, func(r store.DeviceRow) bool { return r.ID == id })
	if i < 0 {
		t.Fatalf("%s is not in Devices", id)
	}
	sameAgent(t, id+" in Devices", all[i].Agent, r.Agent)
	return r.Agent
}

// testAgentStops: a heartbeat that says the agent is stopping sets the
// device's stop state (its reason, and when the agent made it); a later
// one that does not clears it; in a batch the newest heartbeat decides;
// each agent.unannounced_stop event counts, and the latest time is kept;
// replays change nothing.
func testAgentStops(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	c := newChain("d")
	sameAgent(t, "before any heartbeat", agentOf(t, s, "d"), store.Agent{})

	h1 := c.next()
	ingest(t, s, h1)
	sameAgent(t, "after a normal heartbeat", agentOf(t, s, "d"), store.Agent{})

	h2 := c.next()
	h2.Stopping = wire.StopShutdown
	outcomes(t, ingest(t, s, h2), out(store.Accepted, 2))
	want := store.Agent{Stopping: wire.StopShutdown, StoppingAt: h2.State.SentAt}
	sameAgent(t, "after a shutdown heartbeat", agentOf(t, s, "d"), want)
	if h2.State.SentAt.Equal(h2.State.ReceivedAt) {
		t.Fatal("the test's heartbeats must be made before they are received")
	}

	// It runs again, and reports that a run ended without a word.
	alive1 := t0.Add(5*time.Minute + 123456789*time.Nanosecond)
	h3 := c.next()
	h3.Events = append(h3.Events, unannounced(alive1))
	ingest(t, s, h3)
	want = store.Agent{UnannouncedStops: 1, LastUnannouncedStop: alive1}
	sameAgent(t, "after a normal heartbeat with an unannounced stop", agentOf(t, s, "d"), want)

	// A batch: stopped, running again with two unannounced stops (one
	// older than the one already kept), then being removed. The newest
	// heartbeat says what the agent is doing; the latest stop is kept.
	alive2 := alive1.Add(time.Hour)
	h4, h5, h6 := c.next(), c.next(), c.next()
	h4.Stopping = wire.StopService
	h5.Events = append(h5.Events, unannounced(alive2), unannounced(alive1.Add(-time.Hour)))
	h6.Stopping = wire.StopUninstall
	outcomes(t, ingest(t, s, h4, h5, h6), out(store.Accepted, 4), out(store.Accepted, 5), out(store.Accepted, 6))
	want = store.Agent{Stopping: wire.StopUninstall, StoppingAt: h6.State.SentAt, UnannouncedStops: 3, LastUnannouncedStop: alive2}
	sameAgent(t, "after a batch ending in a removal", agentOf(t, s, "d"), want)

	// Replays of heartbeats that said other things change nothing.
	r4 := c.make(4, h3.Hash, h4.State.ReceivedAt)
	r4.Stopping = wire.StopShutdown
	r4.Events = append(r4.Events, unannounced(alive2.Add(time.Hour)))
	outcomes(t, ingest(t, s, r4, h5), out(store.Replay, 6), out(store.Replay, 6))
	sameAgent(t, "after replays", agentOf(t, s, "d"), want)

	// A batch whose newest heartbeat does not say it is stopping: running,
	// though an earlier one in the batch said it was stopping.
	h7, h8 := c.next(), c.next()
	h7.Stopping = wire.StopService
	ingest(t, s, h7, h8)
	want = store.Agent{UnannouncedStops: 3, LastUnannouncedStop: alive2}
	sameAgent(t, "after a stop and a normal heartbeat in one batch", agentOf(t, s, "d"), want)

	// Another handle on the database (a second server) reads the same, and
	// the events themselves are stored as any other.
	s2 := open(t)
	sameAgent(t, "read by a second handle", agentOf(t, s2, "d"), want)
	evs, err := s2.SearchEvents(ctx, store.EventFilter{DeviceID: "d", Type: wire.EventUnannouncedStop})
	ok(t, err)
	if len(evs) != 3 {
		t.Errorf("%d %s events stored, want 3", len(evs), wire.EventUnannouncedStop)
	}
	// The stop state is not part of the state history: stopping and
	// starting again record no state change.
	changes, err := s2.StateChanges(ctx, "d", time.Time{}, t0.Add(24*time.Hour))
	ok(t, err)
	if len(changes) != 1 {
		t.Errorf("%d state changes, want 1", len(changes))
	}
}

// testAgentStopsFleet: across a fleet, each device keeps its own agent
// stop state, and the device lists' agent filter (server.AgentStatusOf and
// Matches, as the API and the console apply them) selects from the stored
// rows exactly the devices it names.
func testAgentStopsFleet(t *testing.T, open Open) {
	s := open(t)
	type dev struct {
		id       string
		live     server.Liveness
		stopping string // of its last heartbeat
		crashes  int    // unannounced stops it reports
	}
	fleet := []dev{
		{"crashed", server.Online, "", 2},
		{"down", server.Online, wire.StopShutdown, 0},
		{"gone", server.Offline, wire.StopUninstall, 0},
		{"never", server.Never, "", 0},
		{"quiet", server.Offline, "", 0},
		{"quiet-crashed", server.Missing, "", 1},
		{"quiet-down", server.Missing, wire.StopShutdown, 0},
		{"run", server.Online, "", 0},
		{"stop", server.Online, wire.StopService, 0},
	}
	for _, d := range fleet {
		createDevices(t, s, d.id)
		if d.live == server.Never {
			continue
		}
		c := newChain(d.id)
		h1, h2 := c.next(), c.next()
		for i := range d.crashes {
			h1.Events = append(h1.Events, unannounced(t0.Add(-time.Duration(i+1)*time.Hour)))
		}
		h2.Stopping = d.stopping
		ingest(t, s, h1, h2)
	}
	rows, err := s.Devices(t.Context())
	ok(t, err)
	if len(rows) != len(fleet) {
		t.Fatalf("%d devices, want %d", len(rows), len(fleet))
	}
	for i, r := range rows {
		d := fleet[i]
		want := store.Agent{Stopping: d.stopping, UnannouncedStops: int64(d.crashes)}
		if d.stopping != "" {
			want.StoppingAt = t0.Add(2*time.Minute - time.Second) // the second heartbeat's SentAt
		}
		if d.crashes > 0 {
			want.LastUnannouncedStop = t0.Add(-time.Hour)
		}
		sameAgent(t, r.ID, r.Agent, want)
	}
	for filter, want := range map[string][]string{
		"running":     {"crashed", "quiet", "quiet-crashed", "run"},
		"stopped":     {"stop"},
		"shutdown":    {"down", "quiet-down"},
		"removed":     {"gone"},
		"silent":      {"quiet", "quiet-crashed"},
		"unannounced": {"crashed", "quiet-crashed"},
	} {
		var got []string
		for i, r := range rows {
			if server.AgentStatusOf(r, fleet[i].live).Matches(filter) {
				got = append(got, r.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("agent=%s selects %v, want %v", filter, got, want)
		}
	}
	if got := len(server.AgentFilters); got != 6 {
		t.Errorf("%d agent filters, this test checks 6", got)
	}
}

// AgentStopsMigration checks a backend's migration that added what agents
// say about stopping (0005), on a database that already holds events: open
// opens a handle on one database (each call another handle), and undo takes
// that database back to before the migration (drops its columns and its
// row in schema_migrations). Reopened, the devices count the unannounced
// stops their stored events report, keep the latest one's time, and take
// every agent as running; ingest goes on from there.
func AgentStopsMigration(t *testing.T, open func(t *testing.T) store.Store, undo func(t *testing.T)) {
	s := open(t)
	createDevices(t, s, "a", "b", "c")
	a, b, c := newChain("a"), newChain("b"), newChain("c")
	a1, a2 := a.next(), a.next()
	a1.Events = append(a1.Events, unannounced(t0.Add(-time.Hour)), unannounced(t0.Add(-2*time.Hour)))
	a2.Stopping = wire.StopShutdown
	b1 := b.next()
	b1.Events = append(b1.Events, unannounced(t0.Add(-3*time.Hour)))
	ingest(t, s, a1, a2, b1, c.next())
	ok(t, s.Close())
	undo(t)

	s = open(t)
	for id, want := range map[string]store.Agent{
		"a": {UnannouncedStops: 2, LastUnannouncedStop: t0.Add(-time.Hour)},
		"b": {UnannouncedStops: 1, LastUnannouncedStop: t0.Add(-3 * time.Hour)},
		"c": {},
	} {
		sameAgent(t, id+" after the migration", agentOf(t, s, id), want)
	}
	a3 := a.next()
	a3.Stopping = wire.StopUninstall
	a3.Events = append(a3.Events, unannounced(t0))
	ingest(t, s, a3)
	sameAgent(t, "a after a heartbeat", agentOf(t, s, "a"),
		store.Agent{Stopping: wire.StopUninstall, StoppingAt: a3.State.SentAt, UnannouncedStops: 3, LastUnannouncedStop: t0})
}
