package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
)

// aliveFile, in the state folder, exists while the agent runs and holds
// the last time it recorded itself alive. It is removed once the agent has
// spooled its farewell heartbeat; found at start, it means the previous run
// ended without one.
const aliveFile = "alive"

// aliveEvery is how often the alive file is brought up to date.
const aliveEvery = 5 * time.Minute

// checkPreviousRun reports an unannounced stop if the previous run left
// its alive file, and starts this run's.
func (a *Agent) checkPreviousRun() {
	path := filepath.Join(a.cfg.StateDir, aliveFile)
	if b, err := os.ReadFile(path); err == nil {
		last, perr := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
		if perr != nil || last.After(time.Now()) {
			if fi, err := os.Stat(path); err == nil {
				last = fi.ModTime()
			}
		}
		a.log.Warn("the agent's previous run ended without saying so (killed, crashed or the power lost)", "last_alive", last.UTC())
		a.event(wire.Event{Time: last.UTC(), Type: wire.EventUnannouncedStop,
			Detail: "the previous run ended without saying it was stopping (killed, crashed or the power lost); this is when it was last known alive"})
	} else if !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("could not read the alive file", "err", err)
	}
	a.markAlive()
}

func (a *Agent) markAlive() {
	path := filepath.Join(a.cfg.StateDir, aliveFile)
	if err := atomicfile.WriteFile(path, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		a.log.Warn("could not record that the agent is alive", "err", err)
	}
}

func (a *Agent) aliveLoop(ctx context.Context) {
	t := time.NewTicker(aliveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.markAlive()
		}
	}
}

// Farewell tells the server that the agent is stopping, and why
// (wire.StopService, StopShutdown or StopUninstall): it makes a last
// heartbeat saying so and sends what waits until ctx is done. Call it after
// Run has returned. Once the farewell is spooled, the next start does not
// report an unannounced stop; if it could not be sent now, it goes with the
// next start's heartbeats.
func (a *Agent) Farewell(ctx context.Context, reason string) error {
	var err error
	spooled := true
	if a.reporter != nil {
		spooled, err = a.reporter.Farewell(ctx, reason)
	}
	if spooled {
		if rerr := os.Remove(filepath.Join(a.cfg.StateDir, aliveFile)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return rerr
		}
	}
	return err
}
