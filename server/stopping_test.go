package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// TestStoppingRecorded: what an agent says about stopping, in the last
// heartbeat of a batch by seq (whatever order the batch lists them in),
// reaches the device's record; a later heartbeat that does not say so
// clears it; each unannounced stop it reports is counted.
func TestStoppingRecorded(t *testing.T) {
	r := newRig(t)
	d := r.enroll("s")
	alive := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	h1 := heartbeat(t, d, 1, "", func(h *wire.Heartbeat) {
		h.Events = []wire.Event{{Time: alive, Type: wire.EventUnannouncedStop}}
	})
	h2 := heartbeat(t, d, 2, wire.Hash(h1.Body), nil)
	made := time.Now().UTC().Truncate(time.Second)
	h3 := heartbeat(t, d, 3, wire.Hash(h2.Body), func(h *wire.Heartbeat) {
		h.Stopping, h.CreatedAt = wire.StopUninstall, made
	})
	// Listed newest first: the server stores them in seq order, and the
	// newest says casekeep is being removed.
	if res := r.post(wire.PathHeartbeats, batch(h3, h2, h1), nil); res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	row, err := r.Store.Device(context.Background(), d.en.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if a := row.Agent; a.Stopping != wire.StopUninstall || !a.StoppingAt.Equal(made) || a.UnannouncedStops != 1 || !a.LastUnannouncedStop.Equal(alive) {
		t.Errorf("after a removal: %+v", a)
	}
	h4 := heartbeat(t, d, 4, wire.Hash(h3.Body), nil)
	if res := r.post(wire.PathHeartbeats, batch(h4), nil); res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	row, _ = r.Store.Device(context.Background(), d.en.DeviceID)
	if a := row.Agent; a.Stopping != "" || !a.StoppingAt.IsZero() || a.UnannouncedStops != 1 {
		t.Errorf("running again: %+v", a)
	}
}
