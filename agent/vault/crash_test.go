package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
)

// TestCrashHelperProcess is the sealing process TestCrash kills; it does
// nothing unless started by TestCrash.
func TestCrashHelperProcess(t *testing.T) {
	agenttest.CrashVault(t).Run(context.Background()) // until killed
}

// TestCrash kills a real sealing process with SIGKILL at random moments,
// while new plaintext keeps arriving. After each kill a restart's scan runs,
// and then every file ever written must be either plaintext with its
// original bytes or sealed and decrypting to them; no temporary file or
// set-aside folder may remain; nothing may be missing.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t)
	originals := map[string][]byte{} // name → content
	var stats struct{ kills, temps, finished, restored, midSeal int }
	checked := map[string]checkedFile{}
	next := 0
	addFiles := func(n int) {
		for range n {
			size := mrand.IntN(64 << 10)
			if mrand.IntN(4) == 0 {
				size = 256<<10 + mrand.IntN(1<<20) // some big enough to be caught mid-write
			}
			content := make([]byte, size)
			rand.Read(content)
			name := fmt.Sprintf("case-%03d/file %d.bin", next%7, next)
			next++
			e.write(name, string(content), true)
			originals[name] = content
		}
	}
	addFiles(10)
	crash := &agenttest.Crash{Helper: "TestCrashHelperProcess", Device: e.Device, Cache: e.cache,
		Before: func(i int) {
			if i%2 == 0 {
				addFiles(1 + mrand.IntN(3))
			}
		},
		Wait: func(i int) {
			if i%2 == 0 {
				// Aim: wait for a seal to be under way, then kill within moments.
				for deadline := time.Now().Add(time.Second); !inProgress(t, e.cache) && time.Now().Before(deadline); {
					time.Sleep(200 * time.Microsecond)
				}
				time.Sleep(time.Duration(mrand.IntN(3000)) * time.Microsecond)
			} else {
				time.Sleep(time.Duration(mrand.IntN(80_000)) * time.Microsecond)
			}
			if inProgress(t, e.cache) {
				stats.midSeal++
			}
		},
		After: func(i int) bool {
			// The restart's scan, then the invariants.
			rep, err := e.reopen().Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			stats.temps += rep.TempsRemoved
			stats.finished += rep.Finished
			stats.restored += rep.Restored
			checkCrashInvariants(t, e, originals, checked, i)
			return true
		},
	}
	stats.kills = crash.Run(t, agenttest.Kills())
	// Finally let a process finish the job.
	v := e.reopen()
	rep, _ := v.Scan(context.Background())
	for _, p := range rep.Plaintext {
		if _, err := v.SealFile(context.Background(), p); err != nil {
			t.Fatalf("sealing %s at the end: %v", p, err)
		}
	}
	checkCrashInvariants(t, e, originals, checked, -1)
	for _, p := range e.files() {
		if !strings.HasSuffix(p, "/") && !strings.HasSuffix(p, ".age") {
			t.Errorf("plaintext left at the end: %s", p)
		}
	}
	t.Logf("crash test: %d kills (%d with a seal visibly in progress), %d files; the restart scans removed %d temporary files, finished %d removals and put back %d plaintext files",
		stats.kills, stats.midSeal, len(originals), stats.temps, stats.finished, stats.restored)
}

// inProgress reports whether the cache holds a temporary file or a
// set-aside folder right now.
func inProgress(t *testing.T, cache string) bool {
	found := false
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".casekeep-tmp") || strings.Contains(p, ".casekeep-aside-")) {
			found = true
		}
		return nil
	})
	return found
}

// checkedFile remembers a file already checked, so that only new or
// changed files are decrypted again.
type checkedFile struct {
	size  int64
	mtime time.Time
	name  string
}

func checkCrashInvariants(t *testing.T, e *env, originals map[string][]byte, checked map[string]checkedFile, round int) {
	t.Helper()
	present := map[string]bool{}
	for _, p := range e.files() {
		if strings.HasSuffix(p, "/") {
			continue
		}
		if strings.Contains(p, ".casekeep-tmp") || strings.Contains(p, ".casekeep-aside-") {
			t.Fatalf("round %d: left after the scan: %s", round, p)
		}
		fi, err := os.Stat(e.path(p))
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := checked[p]; ok && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
			present[c.name] = true
			continue
		}
		var content []byte
		if strings.HasSuffix(p, ".age") {
			content, err = agenttest.DecryptErr(e.path(p), e.Escrow)
			if err != nil {
				t.Fatalf("round %d: %s does not decrypt: %v", round, p, err)
			}
		} else {
			content, err = os.ReadFile(e.path(p))
			if err != nil {
				t.Fatal(err)
			}
		}
		name := originalName(p)
		want, ok := originals[name]
		if !ok {
			t.Fatalf("round %d: unexpected file %s", round, p)
		}
		if !bytes.Equal(content, want) {
			t.Fatalf("round %d: %s does not hold the original bytes of %s", round, p, name)
		}
		checked[p] = checkedFile{fi.Size(), fi.ModTime(), name}
		present[name] = true
	}
	for name := range originals {
		if !present[name] {
			t.Fatalf("round %d: %s is missing: neither plaintext nor sealed", round, name)
		}
	}
}

// originalName maps a cache path back to the name it was written as:
// "x/file 1.bin.age", "x/file 1 (2).bin.age" and "x/file 1 (unsealed 2).bin"
// all come from "x/file 1.bin".
func originalName(p string) string {
	p = strings.TrimSuffix(p, ".age")
	if i := strings.LastIndex(p, " ("); i >= 0 {
		if j := strings.Index(p[i:], ")"); j >= 0 {
			p = p[:i] + p[i+j+1:]
		}
	}
	return p
}
