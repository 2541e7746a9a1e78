package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/wire"
)

// All of casekeep's use of kardianos/service is in this file, so that it
// can be replaced.

// serviceName is the service's name in every service manager (launchd's
// label is made from it).
const serviceName = "casekeep"

// program adapts a run function to kardianos/service: Start returns at
// once, Stop cancels and waits (with a deadline) for run to return.
type program struct {
	run      func(ctx context.Context, stop func() agent.Stop) error
	stateDir string
	log      *slog.Logger
	cancel   context.CancelFunc
	done     chan error
	failed   chan struct{} // closed if run fails on its own

	mu   sync.Mutex
	stop agent.Stop
}

func (p *program) Start(s service.Service) error {
	if !service.Interactive() {
		// Whichever way it was installed, the service restarts on failure.
		if err := installer.SetRecovery(serviceName); err != nil {
			p.log.Warn("could not set the service's recovery actions", "err", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		err := p.run(ctx, p.stopped)
		if ctx.Err() == nil { // it stopped without being asked to
			if err == nil {
				err = errors.New("the agent stopped on its own")
			}
			p.log.Error("casekeep agent failed", "err", err)
			if runtime.GOOS == "windows" && !service.Interactive() {
				// The Windows service loop waits only for a stop request:
				// exit, so the service manager's recovery restarts us.
				os.Exit(1)
			}
			close(p.failed)
		}
		p.done <- err
	}()
	return nil
}

// stopped is why and by when the agent must stop, once Stop or Shutdown
// has asked it to.
func (p *program) stopped() agent.Stop {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stop
}

func (p *program) Stop(service.Service) error {
	select {
	case <-p.failed: // it failed on its own: that is the outcome
		return <-p.done
	default:
	}
	return p.halt(agent.StopReason(p.stateDir), agent.StopTimeout)
}

// Shutdown is Stop when the computer shuts down (Windows tells them apart).
func (p *program) Shutdown(service.Service) error {
	return p.halt(wire.StopShutdown, agent.ShutdownTimeout)
}

func (p *program) halt(reason string, within time.Duration) error {
	deadline := time.Now().Add(within)
	p.mu.Lock()
	p.stop = agent.Stop{Reason: reason, Deadline: deadline}
	p.mu.Unlock()
	p.log.Info("stopping", "reason", reason)
	p.cancel()
	// Errors are logged, not returned: on Windows a Stop error is an exit
	// code the service manager's recovery would answer with a restart.
	select {
	case err := <-p.done:
		if err != nil {
			p.log.Error("the agent stopped with an error", "err", err)
		}
	case <-time.After(time.Until(deadline)):
		p.log.Error("the agent did not stop in time; exiting anyway", "within", within)
	}
	return nil
}

// serviceDef is the casekeep service as this OS's service manager sees it.
func serviceDef(name string, l installer.Layout, args []string) (*service.Config, error) {
	def := installer.Service{Name: name, Exec: l.Program, Args: args, State: l.State, Config: l.Config, StopTimeout: agent.StopTimeout + 5*time.Second}
	cfg := &service.Config{
		Name: name, DisplayName: "casekeep", Description: installer.Description,
		Executable: l.Program, Arguments: args, Option: service.KeyValue{},
	}
	switch runtime.GOOS {
	case "linux":
		// The unit is rendered by the installer package (the packages ship
		// the same text); kardianos's template engine passes it through.
		unit, err := installer.SystemdUnit(def)
		if err != nil {
			return nil, err
		}
		cfg.Option["SystemdScript"] = unit
	case "darwin":
		plist, err := installer.LaunchdPlist(def)
		if err != nil {
			return nil, err
		}
		cfg.Name = installer.LaunchdLabel(name)
		cfg.Option["LaunchdConfig"] = plist
	case "windows":
		cfg.Option["StartType"] = "automatic"
		cfg.Option["OnFailure"] = "restart"
		cfg.Option["OnFailureDelayDuration"] = installer.Recovery.Delays[0].String()
		cfg.Option["OnFailureResetPeriod"] = int(installer.Recovery.Reset.Seconds())
	}
	return cfg, nil
}

// runAsService runs run under the service manager when started by one, or
// in the foreground until SIGINT or SIGTERM, through the same kardianos
// code path either way. Under the Windows service manager, log goes to
// the Event Log; elsewhere standard error reaches the journal or launchd's
// log file.
func runAsService(run func(ctx context.Context, stop func() agent.Stop) error, stateDir string, log *slog.Logger, level slog.Level) error {
	p := &program{run: run, stateDir: stateDir, log: log, done: make(chan error, 1), failed: make(chan struct{})}
	s, err := service.New(p, &service.Config{
		Name:        serviceName,
		DisplayName: "casekeep",
		Description: installer.Description,
		Option: service.KeyValue{
			// Stop on a signal, or as soon as the agent fails.
			"RunWait": func() {
				sig := make(chan os.Signal, 1)
				signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
				defer signal.Stop(sig)
				select {
				case s := <-sig:
					log.Info("signal", "signal", s.String())
				case <-p.failed:
				}
			},
		},
	})
	if err != nil {
		return err
	}
	if runtime.GOOS == "windows" && !service.Interactive() {
		if sl, err := s.SystemLogger(nil); err == nil {
			*log = *slog.New(eventLogHandler{l: sl, level: level})
		}
	}
	err = s.Run()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// interactive reports whether the agent runs from a terminal rather than
// under a service manager.
func interactive() bool { return service.Interactive() }

// control runs one service action (install, uninstall, start, stop,
// restart) on the service named name.
func control(name string, l installer.Layout, args []string, action string) error {
	cfg, err := serviceDef(name, l, args)
	if err != nil {
		return err
	}
	s, err := service.New(&program{}, cfg)
	if err != nil {
		return err
	}
	if runtime.GOOS == "linux" && action == "install" && s.Platform() != "linux-systemd" {
		return fmt.Errorf("casekeep needs systemd on Linux; this system uses %s", s.Platform())
	}
	if err := service.Control(s, action); err != nil {
		return err
	}
	if action == "install" {
		return installer.SetRecovery(cfg.Name)
	}
	return nil
}

// serviceState is the service's state, in words: running, stopped, or not
// installed; err says why it could not be told.
func serviceState(name string, l installer.Layout) (string, error) {
	cfg, err := serviceDef(name, l, nil)
	if err != nil {
		return "", err
	}
	s, err := service.New(&program{}, cfg)
	if err != nil {
		return "", err
	}
	if runtime.GOOS == "linux" && s.Platform() != "linux-systemd" {
		return "", fmt.Errorf("cannot tell: this computer does not run systemd (%s)", s.Platform())
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed", nil
	case err != nil && strings.Contains(err.Error(), "failed state"):
		return "failed", nil // systemd gave up on it: installed, not running
	case err != nil:
		return "", err
	case st == service.StatusRunning:
		return "running", nil
	case st == service.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}
