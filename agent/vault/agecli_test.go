package vault_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testenv"
)

// ageCLI finds the stock age command: Debian's package for classic keys,
// and for post-quantum keys the one named by CASEKEEP_AGE_PQ (age 1.3 or
// later, which CI builds with go install filippo.io/age/cmd/age@v1.3.2).
func ageCLI(t *testing.T, postQuantum bool) string {
	t.Helper()
	if postQuantum {
		if p := os.Getenv("CASEKEEP_AGE_PQ"); p != "" {
			return p
		}
		testenv.Unavailable(t, "set CASEKEEP_AGE_PQ to an age 1.3 binary to test post-quantum interop")
	}
	p, err := exec.LookPath("age")
	if err != nil {
		testenv.Unavailable(t, "the age command is not installed (apt-get install age)")
	}
	return p
}

// TestStockAgeDecrypts seals files with the vault and decrypts them with the
// stock age command and the escrow identity, as IT security would recover a
// file after a wipe.
func TestStockAgeDecrypts(t *testing.T) {
	for _, pq := range []bool{false, true} {
		name := "X25519"
		if pq {
			name = "post-quantum"
		}
		t.Run(name, func(t *testing.T) {
			cli := ageCLI(t, pq)
			dir := t.TempDir()
			d := agenttest.NewDevice(t, pq)
			idFile := filepath.Join(dir, "escrow.txt")
			d.WriteEscrow(t, idFile)
			v, err := vault.Open(vault.Config{
				Dir: filepath.Join(dir, "cache"), Device: d.Keys, Escrow: []age.Recipient{d.EscrowRecipient},
				Store: state.OpenStore(d.State, time.Second),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			contents := map[string]string{
				"empty.txt":  "",
				"small.docx": "assessment of need",
				"big.pdf":    strings.Repeat("court report page\n", 20_000), // several 64 KiB chunks
			}
			for n, c := range contents {
				p := filepath.Join(dir, "cache", n)
				os.WriteFile(p, []byte(c), 0o644)
				os.Chtimes(p, timeAgo(), timeAgo())
				if _, err := v.SealFile(context.Background(), n); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(cli, "--decrypt", "--identity", idFile, filepath.Join(dir, "cache", n+".age")).Output()
				if err != nil {
					t.Fatalf("%s --decrypt %s.age: %v", cli, n, err)
				}
				if string(out) != c {
					t.Fatalf("%s: the age command decrypted %d bytes, want %d", n, len(out), len(c))
				}
			}
		})
	}
}
