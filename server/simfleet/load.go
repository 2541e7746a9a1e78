package simfleet

import (
	"context"
	"fmt"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

// Retention is how long Load keeps heartbeats, as the server keeps them
// by default: it prunes the older ones once a simulated day, as the
// server does hourly.
const Retention = 90 * 24 * time.Hour

// Stats is what Load stored.
type Stats struct {
	Heartbeats, Events int
	Took               time.Duration
}

// Load ingests h into s in batches of batch heartbeats, failing if one is
// not accepted; h's devices must be in s already (see History.Devices).
// Once a simulated day it prunes the heartbeats past Retention and then,
// if idle is not nil, calls it between two Ingest calls.
func Load(ctx context.Context, s store.Store, h *History, batch int, idle func() error) (Stats, error) {
	start := time.Now()
	var st Stats
	pruned := h.Start
	for {
		hbs := h.Next(batch)
		if len(hbs) == 0 {
			break
		}
		outs, err := s.Ingest(ctx, hbs)
		if err != nil {
			return st, err
		}
		for i, o := range outs {
			if o.Result != store.Accepted {
				return st, fmt.Errorf("%s seq %d: %v", hbs[i].DeviceID, hbs[i].Seq, o.Result)
			}
			st.Heartbeats++
			st.Events += len(hbs[i].Events)
		}
		if now := hbs[len(hbs)-1].State.ReceivedAt; now.Sub(pruned) >= 24*time.Hour {
			if _, err := s.PruneHeartbeats(ctx, now.Add(-Retention)); err != nil {
				return st, err
			}
			if idle != nil {
				if err := idle(); err != nil {
					return st, err
				}
			}
			pruned = now
		}
	}
	st.Took = time.Since(start)
	return st, nil
}
