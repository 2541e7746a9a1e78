package sweep_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/sweep"
	"github.com/casekeep/casekeep/policy"
)

// TestCrashHelperProcess is the quarantining process TestCrash kills.
func TestCrashHelperProcess(t *testing.T) {
	v := agenttest.CrashVault(t)
	s, err := sweep.New(sweep.Config{Classify: markerClassifier, Vault: v, Settle: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.SetFolders([]sweep.Folder{{Path: os.Getenv("CASEKEEP_DOWNLOADS"), Kind: sweep.KindSweep, Action: policy.ActionQuarantine, Label: "Downloads"}})
	s.Run(context.Background()) // until killed
}

// TestCrash kills a real quarantining process with SIGKILL at random
// moments. After every kill, each case file must be in Downloads with its
// original bytes, or sealed in the cache decrypting to them, or both (a
// kill between sealing and removing): never neither. At the end, with the
// process left to finish, every file is in the cache exactly once.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	base := t.TempDir()
	cache, dl := filepath.Join(base, "cache"), filepath.Join(base, "Downloads")
	os.MkdirAll(dl, 0o755)
	device := agenttest.NewDevice(t, false)
	originals := map[string][]byte{}
	for i := range 200 {
		size := mrand.IntN(32 << 10)
		if i%8 == 0 {
			size = 256<<10 + mrand.IntN(768<<10) // big enough to be caught mid-seal
		}
		b := make([]byte, size)
		rand.Read(b)
		content := append([]byte(marker+" "), b...)
		name := fmt.Sprintf("file %02d.docx", i)
		write(t, filepath.Join(dl, name), string(content), time.Minute)
		originals[name] = content
	}
	crash := &agenttest.Crash{Helper: "TestCrashHelperProcess", Device: device, Cache: cache, Env: []string{"CASEKEEP_DOWNLOADS=" + dl}}
	decrypted := map[string]string{} // sealed file → the original it holds (sealed files never change)
	both := 0                        // files seen in both places after a kill: caught between seal and removal
	check := func(final bool) (inCache int) {
		t.Helper()
		sealed := map[string]int{}
		filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".age") {
				return nil
			}
			if name, ok := decrypted[p]; ok {
				sealed[name]++
				return nil
			}
			b, err := agenttest.DecryptErr(p, device.Escrow)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				t.Errorf("%s does not decrypt: %v", p, err)
				return nil
			}
			for name, want := range originals {
				if string(b) == string(want) {
					sealed[name]++
					decrypted[p] = name
				}
			}
			return nil
		})
		for name, want := range originals {
			b, err := os.ReadFile(filepath.Join(dl, name))
			plain := err == nil && string(b) == string(want)
			if err == nil && !plain {
				t.Errorf("%s in Downloads holds other bytes (%d, want %d)", name, len(b), len(want))
			}
			if !plain && sealed[name] == 0 {
				t.Errorf("%s is in neither place", name)
			}
			if sealed[name] > 1 {
				t.Errorf("%s is sealed %d times", name, sealed[name])
			}
			if final && plain {
				t.Errorf("%s is still in Downloads", name)
			}
			if sealed[name] > 0 {
				inCache++
				if plain {
					both++
				}
			}
		}
		return inCache
	}
	crash.Wait = func(int) { time.Sleep(time.Duration(30+mrand.IntN(120)) * time.Millisecond) }
	crash.After = func(kill int) bool {
		n := check(false)
		if t.Failed() {
			t.Fatalf("after kill %d", kill+1)
		}
		return n != len(originals)
	}
	kills := crash.Run(t, 40)
	t.Logf("%d kills; %d times a file was caught sealed but not yet removed", kills, both)
	child := crash.Start(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		entries, _ := os.ReadDir(dl)
		if len(entries) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	child.Kill()
	if n := check(true); n != len(originals) {
		t.Errorf("%d of %d in the cache", n, len(originals))
	}
	if entries, _ := os.ReadDir(dl); len(entries) != 0 {
		t.Errorf("left in Downloads: %v", entries)
	}
}
