//go:build !windows

package cloudsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/cloudsync"
)

// A FIFO in place of info.json is refused without blocking: reading it
// would hang the agent until someone wrote to it.
func TestConfigFIFORefused(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, ".dropbox")
	if err := syscall.Mkfifo(filepath.Join(home, ".dropbox", "info.json"), 0o666); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{home}, GOOS: "linux"})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, cloudsync.ErrRefused) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Find blocked on a FIFO")
	}
}

// info.json swapped back and forth between a regular file and a link to a
// file outside the home while Find runs: the folder the outside file names
// is never reported, whichever moment the swap hits.
func TestConfigSwapRace(t *testing.T) {
	home, elsewhere, target := t.TempDir(), t.TempDir(), secret(t)
	mkdirs(t, home, "Good", ".dropbox")
	evil := write(t, elsewhere, "evil.json", `{"personal": {"path": `+jsonString(target)+`}}`)
	good := `{"personal": {"path": ` + jsonString(filepath.Join(home, "Good")) + `}}`
	info := filepath.Join(home, ".dropbox", "info.json")

	// The swapper runs until told to stop; Find runs until both have done
	// enough rounds (bounded either way, never timed).
	var swaps atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		tmp := filepath.Join(home, ".dropbox", "tmp")
		for n := 0; n < 10_000_000; n++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			var err error
			if n%2 == 0 {
				err = os.WriteFile(tmp, []byte(good), 0o644)
			} else {
				err = os.Symlink(evil, tmp)
			}
			if err == nil {
				err = os.Rename(tmp, info)
			}
			if err != nil {
				done <- err
				return
			}
			swaps.Add(1)
		}
		done <- nil
	}()
	var ok, refused int
	for i := 0; i < 1_000_000 && (i < 2000 || swaps.Load() < 500); i++ {
		got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{home}, GOOS: "linux"})
		for _, f := range got {
			if f.Path == target {
				t.Fatalf("round %d: the linked file's folder was reported: %+v", i, f)
			}
		}
		switch {
		case err == nil:
			ok++
		case errors.Is(err, cloudsync.ErrRefused):
			refused++
		default:
			t.Fatalf("round %d: %v", i, err)
		}
		if i%100 == 0 {
			runtime.Gosched()
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d swaps; %d rounds read the file, %d refused it", swaps.Load(), ok, refused)
}

// A hard link to someone else's file in place of info.json is not read:
// the agent would be reading, as root, a file the user may not.
func TestConfigHardLinkRefused(t *testing.T) {
	home, other := t.TempDir(), t.TempDir()
	secret := filepath.Join(other, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"personal": {"path": "/etc"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mkdirs(t, home, ".dropbox")
	if err := os.Link(secret, filepath.Join(home, ".dropbox", "info.json")); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{home}, GOOS: "linux"})
	if !errors.Is(err, cloudsync.ErrRefused) {
		t.Errorf("err = %v, want ErrRefused", err)
	}
	for _, f := range got {
		if f.Path == "/etc" {
			t.Errorf("read through a hard link: %+v", f)
		}
	}
}
