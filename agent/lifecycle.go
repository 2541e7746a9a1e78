package agent

// How the server learns that the agent stopped
//
// This file is the whole answer; the server's side is server.AgentStateOf.
//
// A stop it is asked for. When the service manager stops the agent (or the
// computer shuts down, or casekeep is removed), Run returns and the agent's
// last heartbeat, its farewell, says why: [Agent.SayFarewell] makes it with
// wire.Heartbeat.Stopping set to wire.StopService, StopShutdown or
// StopUninstall, and sends what waits in the spool, within the stop's
// deadline and at most [FarewellMax]. The reason is the service manager's:
// a shutdown is one when Windows says so or systemd is stopping the system
// ([StopReason]); an uninstall is one when `casekeep service stop --reason
// uninstall` (the package scripts) or `casekeep service uninstall` recorded
// it in the state folder first ([RecordStopReason]). The server then shows
// the agent as stopped, shut down or removed, since that heartbeat's time.
//
// A stop it is not asked for. While Run runs, the alive file in the state
// folder holds when the agent last knew itself alive (written at start and
// every five minutes). The farewell removes it once the farewell heartbeat
// is spooled. So when a run ends without one (killed, crashed, the power
// lost, or a farewell that could not even be spooled), the next start finds
// the file and reports a wire.EventUnannouncedStop event, timed when that
// run was last alive; the server counts these per device.
//
// A server that is away. The farewell is spooled before it is sent, like
// every heartbeat: if the server cannot be reached by the deadline, the
// heartbeat waits in the spool and goes, in order, with the next start's
// heartbeats. The server shows the stop late, but it learns it, and no
// unannounced stop is reported for a run that said farewell.

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

// How long a stop may take: the agent's own deadline (a seal in progress is
// rolled back by then), within what the service managers allow (systemd's
// TimeoutStopSec and launchd's ExitTimeOut are set 5 s above StopTimeout;
// Windows gives services about 5 s at shutdown, hence ShutdownTimeout). The
// farewell takes at most FarewellMax of it.
const (
	StopTimeout     = 20 * time.Second
	ShutdownTimeout = 4 * time.Second
	FarewellMax     = 8 * time.Second
)

// aliveFile, in the state folder, exists while the agent runs and holds
// the last time it recorded itself alive. It is removed once the agent has
// spooled its farewell heartbeat; found at start, it means the previous run
// ended without one.
const aliveFile = "alive"

// aliveEvery is how often the alive file is brought up to date.
const aliveEvery = 5 * time.Minute

// stopReasonFile, in the state folder, says why the next stop happens when
// casekeep service stop --reason or uninstall asked for it.
const stopReasonFile = "stop-reason"

// A Stop is why the agent stops and by when it must be gone.
type Stop struct {
	Reason   string // wire.StopService, StopShutdown or StopUninstall
	Deadline time.Time
}

// RecordStopReason records in the state folder stateDir why the service
// is about to be stopped, for [StopReason] to find, before the service
// manager is asked to stop it. wire.StopService, the reason a stop has
// anyway, is not recorded.
func RecordStopReason(stateDir, reason string) error {
	if reason == wire.StopService {
		return nil
	}
	return atomicfile.WriteFile(filepath.Join(stateDir, stopReasonFile), []byte(reason+"\n"), 0o600)
}

// ClearStopReason removes a reason recorded in stateDir: at start (one
// given for an earlier stop), or when the stop it was recorded for could
// not be asked for.
func ClearStopReason(stateDir string) {
	os.Remove(filepath.Join(stateDir, stopReasonFile))
}

// StopReason says why the service manager is stopping the agent, whose
// state folder is stateDir: wire.StopUninstall if that was recorded there
// (the record is read once, and removed), else wire.StopShutdown if the
// computer is shutting down, else wire.StopService.
func StopReason(stateDir string) string { return stopReason(stateDir, systemStopping) }

func stopReason(stateDir string, stopping func() bool) string {
	reason := wire.StopService
	if stopping() {
		reason = wire.StopShutdown
	}
	path := filepath.Join(stateDir, stopReasonFile)
	if b, err := os.ReadFile(path); err == nil {
		os.Remove(path)
		if r := strings.TrimSpace(string(b)); r == wire.StopUninstall {
			reason = r
		}
	}
	return reason
}

// farewellBy is when the farewell for the stop s must be done, from now:
// FarewellMax from now, or s's deadline if that is sooner. A Stop with no
// reason is a service stop with StopTimeout.
func farewellBy(s Stop, now time.Time) Stop {
	if s.Reason == "" {
		s = Stop{Reason: wire.StopService, Deadline: now.Add(StopTimeout)}
	}
	if d := now.Add(FarewellMax); d.Before(s.Deadline) {
		s.Deadline = d
	}
	return s
}

// SayFarewell says the agent's farewell for the stop s (see [Agent.Farewell])
// by s's deadline, or within FarewellMax if that is sooner, and logs
// whether the server heard it. Call it after Run has returned because it
// was asked to stop.
func (a *Agent) SayFarewell(s Stop) {
	s = farewellBy(s, time.Now())
	ctx, cancel := context.WithDeadline(context.Background(), s.Deadline)
	defer cancel()
	err := a.Farewell(ctx, s.Reason)
	switch {
	case a.cfg.Enrollment == nil, a.wiping() != nil:
	case err != nil:
		a.log.Warn("could not tell the server the agent is stopping; it goes with the next heartbeats", "reason", s.Reason, "err", err)
	default:
		a.log.Info("told the server the agent is stopping", "reason", s.Reason)
	}
}

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
// next start's heartbeats. A device being wiped, or wiped, says none: its
// wipe's acknowledgement is its last heartbeat.
func (a *Agent) Farewell(ctx context.Context, reason string) error {
	var err error
	spooled := true
	if a.reporter != nil && a.wiping() == nil {
		spooled, err = a.reporter.Farewell(ctx, reason)
	}
	if spooled {
		if rerr := os.Remove(filepath.Join(a.cfg.StateDir, aliveFile)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return rerr
		}
	}
	return err
}
