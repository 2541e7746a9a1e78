//go:build !windows

package vault_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/vault"
)

// TestSealInPlaceSwap: the file is replaced while it is sealed; the new
// version is neither removed nor lost.
func TestSealInPlaceSwap(t *testing.T) {
	e := newEnv(t)
	dir := usbFolder(t, map[string]string{"a.txt": "version 1"})
	swapAt(t, "linked", func(string) {
		os.Remove(filepath.Join(dir, "a.txt"))
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("version 2"), 0o644)
	})
	_, err := sealInPlace(context.Background(), e, dir, "a.txt")
	if !errors.Is(err, vault.ErrChanging) {
		t.Fatalf("err = %v, want ErrChanging", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "version 2" {
		t.Errorf("the new version holds %q", b)
	}
	if s := agenttest.Decrypt(t, filepath.Join(dir, "a.txt.age"), e.Escrow); s != "version 1" {
		t.Errorf("sealed %q", s)
	}
}
