//go:build !windows

package vault_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testenv"
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
	testenv.Eventually(t, "the next file sealed", func() bool { return e.events.has(vault.EventSealed, "after.txt.age") })
	if fi, err := os.Lstat(e.path("pipe.docx")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Error("the FIFO was removed")
	}
}
