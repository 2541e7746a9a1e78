package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/kardianos/service"
)

// stopTimeout bounds how long a stop waits for a seal in progress.
const stopTimeout = 30 * time.Second

// program adapts a run function to kardianos/service: Start returns at
// once, Stop cancels and waits (with a deadline) for run to return.
type program struct {
	run    func(context.Context) error
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan error
	failed chan struct{} // closed if run fails on its own
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		err := p.run(ctx)
		if ctx.Err() == nil { // it stopped without being asked to
			if err == nil {
				err = errors.New("the agent stopped on its own")
			}
			p.log.Error("casekeep agent failed", "err", err)
			if runtime.GOOS == "windows" {
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

func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case err := <-p.done:
		return err
	case <-time.After(stopTimeout):
		return fmt.Errorf("the agent did not stop within %s", stopTimeout)
	}
}

// runAsService runs run under the service manager when started by one, or
// in the foreground until SIGINT or SIGTERM, through the same kardianos
// code path either way.
func runAsService(run func(context.Context) error, log *slog.Logger) error {
	p := &program{run: run, log: log, done: make(chan error, 1), failed: make(chan struct{})}
	s, err := service.New(p, &service.Config{
		Name:        "casekeep",
		DisplayName: "casekeep",
		Description: "Keeps cached case files encrypted and reports this device's compliance.",
		Option: service.KeyValue{
			// Stop on a signal, or as soon as the agent fails.
			"RunWait": func() {
				sig := make(chan os.Signal, 1)
				signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
				defer signal.Stop(sig)
				select {
				case s := <-sig:
					log.Info("stopping", "signal", s.String())
				case <-p.failed:
				}
			},
		},
	})
	if err != nil {
		return err
	}
	err = s.Run()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
