//go:build !windows

package vault_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/casekeep/casekeep/agent/vault"
)

func TestFIFO(t *testing.T) {
	e := newEnv(t)
	if err := syscall.Mkfifo(e.path("pipe.docx"), 0o644); err != nil {
		t.Fatal(err)
	}
	withTimeout(t, "Scan", func() {
		rep, err := e.v.Scan(context.Background())
		if err != nil || rep.Refused != 1 {
			t.Errorf("scan: %+v, %v", rep, err)
		}
	})
	withTimeout(t, "SealFile", func() {
		if _, err := e.v.SealFile(context.Background(), "pipe.docx"); !errors.Is(err, vault.ErrRefused) {
			t.Errorf("SealFile on a FIFO: %v", err)
		}
	})
	e.run()
	e.v.Notify("pipe.docx")
	e.write("after.txt", "still working", true)
	e.v.Notify("after.txt")
	eventually(t, "the next file sealed", func() bool { return e.events.has(vault.EventSealed, "after.txt.age") })
	if fi, err := os.Lstat(e.path("pipe.docx")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Error("the FIFO was removed")
	}
}

// TestScanRemovesOnlyOrphanTemps: a temporary file that a live process
// holds (its flock) is left alone; an orphan is removed; a file that only
// has a temporary file's name but holds someone's data is sealed instead.
func TestScanRemovesOnlyOrphanTemps(t *testing.T) {
	e := newEnv(t)
	e.write(".orphan.casekeep-tmp", "age-encryption.org/v1\n-> X25519", true)
	e.write(".empty.casekeep-tmp", "", true)
	e.write(".impostor.casekeep-tmp", "someone's notes", true)
	e.write(".live.casekeep-tmp", "age-encryption.org/v1\n", true)
	live, err := os.Open(e.path(".live.casekeep-tmp"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := syscall.Flock(int(live.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.TempsRemoved != 2 || strings.Join(rep.Plaintext, ",") != ".impostor.casekeep-tmp" {
		t.Errorf("report %+v", rep)
	}
	e.wantFiles(".impostor.casekeep-tmp", ".live.casekeep-tmp")
}
