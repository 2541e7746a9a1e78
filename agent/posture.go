package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/casekeep/casekeep/agent/posture"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// postureFile keeps the last posture results in the state folder, so a
// restart reports a change only when there is one.
const postureFile = "posture.json"

// DefaultPostureEvery is how often the posture checks run.
const DefaultPostureEvery = 10 * time.Minute

// diskEncryptionCheck runs this OS's disk-encryption check.
func diskEncryptionCheck(ctx context.Context) wire.Check {
	c := posture.DiskEncryption(ctx, posture.Options{})
	return wire.Check{Name: string(policy.CheckDiskEncryption), Result: string(c.Result), Evidence: wire.Clean(c.Evidence, wire.MaxShortString)}
}

// diskEncryption returns the last disk-encryption result ("" before the
// first check).
func (a *Agent) diskEncryption() wire.Check {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.disk
}

// loadPosture reads the last results a previous run saved.
func (a *Agent) loadPosture() {
	b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, postureFile))
	if err != nil {
		return
	}
	var c wire.Check
	if len(b) <= 64<<10 && json.Unmarshal(b, &c) == nil && c.Name == string(policy.CheckDiskEncryption) {
		a.mu.Lock()
		a.disk, a.diskLoaded = c, true
		a.mu.Unlock()
	}
}

// checkPosture runs the checks, and reports a result that changed as an
// event (the first result ever is reported too).
func (a *Agent) checkPosture(ctx context.Context) {
	c := a.cfg.Posture(ctx)
	if ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	prev, had := a.disk, a.diskLoaded
	a.disk, a.diskLoaded = c, true
	a.mu.Unlock()
	if had && prev.Result == c.Result {
		if prev.Evidence != c.Evidence {
			a.savePosture(c)
		}
		return
	}
	was := "not checked before"
	if had {
		was = "was " + prev.Result
	}
	a.log.Info("disk encryption", "result", c.Result, "evidence", c.Evidence, "before", was)
	a.event(wire.Event{Time: time.Now().UTC(), Type: wire.PostureEvent(c.Name), Detail: fmt.Sprintf("%s (%s): %s", c.Result, was, c.Evidence)})
	if had {
		a.notable()
	}
	a.savePosture(c)
	a.statusChanged()
}

func (a *Agent) savePosture(c wire.Check) {
	b, _ := json.Marshal(c)
	if err := atomicfile.WriteFile(filepath.Join(a.cfg.StateDir, postureFile), b, 0o600); err != nil {
		a.log.Warn("could not save the posture results", "err", err)
	}
}

func (a *Agent) postureLoop(ctx context.Context) {
	every := a.cfg.PostureEvery
	if every <= 0 {
		every = DefaultPostureEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.checkPosture(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
