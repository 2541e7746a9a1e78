package outside_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/outside"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/agent/storage/storagetest"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// eventually bounds every wait for something that must happen.
const eventually = storagetest.Eventually

// Short intervals, so the retry and timeout paths run in milliseconds.
const (
	retry   = 20 * time.Millisecond
	timeout = 100 * time.Millisecond
)

// env is a watcher over a fake storage source, with a real vault, whose
// sink the test reads.
type env struct {
	t      *testing.T
	src    *storagetest.Source
	w      *outside.Watcher
	v      *vault.Vault
	home   string
	escrow *age.X25519Identity

	events  agenttest.Recorder[wire.Event]
	notes   agenttest.Recorder[string] // "title: body"
	notable atomic.Int64
}

// newEnv makes a watcher looking after home (and more homes, if given).
func newEnv(t *testing.T, more ...string) *env {
	t.Helper()
	base := t.TempDir()
	escrow, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, src: storagetest.New(true), home: filepath.Join(base, "home", "sam"), escrow: escrow}
	t.Cleanup(e.src.Release)
	if err := os.MkdirAll(e.home, 0o755); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(base, "state")
	if err := state.Prepare(stateDir); err != nil {
		t.Fatal(err)
	}
	device, err := keys.LoadOrCreate(stateDir, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.v, err = vault.Open(vault.Config{Dir: filepath.Join(base, "cache"), Device: device, Escrow: []age.Recipient{escrow.Recipient()},
		Store: state.OpenStore(stateDir, 5*time.Second), Quiet: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.v.Close() })
	e.w = outside.New(outside.Config{
		Storage: e.src, Homes: append([]string{e.home}, more...),
		Settle: 50 * time.Millisecond, Rescan: 200 * time.Millisecond, SyncEvery: 20 * time.Millisecond,
		BlockRetry: retry, BlockTimeout: timeout,
		Sink: outside.Sink{
			Event:   e.events.Add,
			Notable: func() { e.notable.Add(1) },
			Notify:  func(title, body string) { e.notes.Add(title + ": " + body) },
		},
	})
	return e
}

// run runs the watcher under p until stop is called or the test ends.
func (e *env) run(p *policy.Policy) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.w.Run(ctx, p, e.v) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Error(err)
				}
			case <-time.After(eventually):
				e.t.Error("Run did not return after its context was cancelled")
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) eventsOf(typ string) []wire.Event { return e.events.Where(agenttest.OfType(typ)) }

func (e *env) waitEvent(typ string, n int) []wire.Event {
	e.t.Helper()
	return e.events.Wait(e.t, fmt.Sprintf("%d %s event(s)", n, typ), n, agenttest.OfType(typ))
}

// waitStatus waits until the watcher's status satisfies ok, and returns it.
func (e *env) waitStatus(what string, ok func(outside.Status) bool) outside.Status {
	e.t.Helper()
	deadline := time.Now().Add(eventually)
	for {
		s := e.w.Status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: status %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitVolume waits until the watcher has acted on the volume at mp (its
// action is said, and its mount point swept if it is unapproved) and
// returns its status.
func (e *env) waitVolume(mp string) outside.VolumeStatus {
	e.t.Helper()
	var vs outside.VolumeStatus
	e.waitStatus("the volume at "+mp+" acted on", func(s outside.Status) bool {
		i := slices.IndexFunc(s.Volumes, func(v outside.VolumeStatus) bool { return v.MountPoint == mp })
		if i < 0 {
			return false
		}
		vs = s.Volumes[i]
		return vs.Approved || vs.Action != "" && slices.Contains(s.SweepFolders, mp)
	})
	return vs
}

func (e *env) told() string { return strings.Join(e.notes.All(), "\n") }

func (e *env) notables() int { return int(e.notable.Load()) }

// settle waits long enough for every retry (1+2+3+4 times retry) and more
// listings and finds to have happened, so a test can check that nothing
// more did.
func settle() { time.Sleep(20 * retry) }

// policy reads a policy of the given version with the given storage
// section.
func (e *env) policy(version int, storageYAML string) *policy.Policy {
	e.t.Helper()
	return agenttest.Policy(e.t, version, e.escrow.Recipient().String(), `classify:
  name_pattern: '(?P<ref>[A-Z]{2}-[0-9]{6})'
  markers: [OFFICIAL-SENSITIVE]
`+storageYAML)
}

func usb(mount, serial string) storage.Volume {
	return storage.Volume{MountPoint: mount, Device: "/dev/sdz1", Filesystem: "vfat", Size: 8 << 30, Removable: true,
		Bus: storage.BusUSB, VendorID: "0781", ProductID: "5581", Serial: serial, Label: "STICK", Model: "SanDisk Cruzer"}
}

// stick makes a folder standing for a USB stick's mount point.
func stick(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
