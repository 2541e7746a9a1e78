package keys

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// The crash tests run a migration and a shred in a child process (this
// test binary again) and SIGKILL it: at each named step (testHook), and at
// random moments in between. After every kill they check what a restart
// finds. The kill loop is small and self-contained on purpose: it can move
// to the shared crash-harness kit once that exists.

var crashKills = flag.Int("keys.kills", 100, "how many times each crash test kills the child at a random moment")

const (
	childEnv     = "CASEKEEP_KEYS_CHILD"      // the operation the child runs
	childDirEnv  = "CASEKEEP_KEYS_CHILD_DIR"  // its state folder
	childStepEnv = "CASEKEEP_KEYS_CHILD_STEP" // the step at which it kills itself
)

// childOps are what a child can be asked to run; each prints "ready" just
// before the part a test means to interrupt, and "done" after it.
var childOps = map[string]func(dir string) error{
	"migrate": func(dir string) error {
		k, err := open(dir, devA, []protector{osFile(dir)})
		if err != nil {
			return err
		}
		fmt.Println("ready")
		return k.Unlock(leaseKey("crash"), "k1")
	},
	"shred": func(dir string) error {
		k, err := open(dir, devA, []protector{osFile(dir)})
		if err != nil {
			return err
		}
		if err := k.Unlock(leaseKey("crash"), "k1"); err != nil {
			return err
		}
		fmt.Println("ready")
		return k.Shred()
	},
	"rewrap": func(dir string) error {
		k, err := open(dir, devA, nil)
		if err != nil {
			return err
		}
		if err := k.Unlock(leaseKey("crash"), "k1"); err != nil {
			return err
		}
		fmt.Println("ready")
		return k.Rewrap(leaseKey("crash next"), "k2")
	},
}

// TestChild is not a test: it is the child process the crash tests start
// (with CASEKEEP_KEYS_CHILD set) and kill. Otherwise it returns at once.
func TestChild(t *testing.T) {
	op := os.Getenv(childEnv)
	if op == "" {
		return
	}
	if s := os.Getenv(childStepEnv); s != "" {
		testHook = func(name string) {
			if name == s {
				self, _ := os.FindProcess(os.Getpid())
				self.Kill()
				select {}
			}
		}
	}
	if err := childOps[op](os.Getenv(childDirEnv)); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("done")
	os.Exit(0)
}

// runChild runs op on dir in a child process and kills it at step, or
// after delay once it is ready (delay < 0: let it finish). It returns how
// long the child took from ready to done when it finished.
func runChild(t *testing.T, op, dir, step string, delay time.Duration) (killed bool, took time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+op, childDirEnv+"="+dir, childStepEnv+"="+step)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	line, _ := r.ReadString('\n')
	if line != "ready\n" {
		cmd.Wait()
		t.Fatalf("the child did not get ready: %q", line)
	}
	start := time.Now()
	if step == "" && delay >= 0 {
		time.Sleep(delay)
		cmd.Process.Kill()
	}
	rest, _ := r.ReadString('\n')
	took = time.Since(start)
	err = cmd.Wait()
	switch {
	case rest == "done\n":
		return false, took
	case strings.HasPrefix(rest, "error:"):
		t.Fatalf("the child failed: %s", rest)
	case err == nil:
		t.Fatalf("the child exited without finishing: %q", rest)
	}
	return true, 0
}

// killLoop runs op on fresh copies of template: killed at each step, then
// at *crashKills random moments, calling check after each run with what
// the step was ("" for a random kill). It returns the outcomes' counts.
func killLoop(t *testing.T, op, template string, steps []string, check func(t *testing.T, dir, step string) string) map[string]int {
	// How long the operation takes (the fastest of three), to spread the
	// kills over it.
	var took time.Duration
	for i := range 3 {
		if _, d := runChild(t, op, copyDir(t, template), "", -1); i == 0 || d < took {
			took = d
		}
	}
	outcomes := map[string]int{}
	for _, s := range steps {
		dir := copyDir(t, template)
		if killed, _ := runChild(t, op, dir, s, 0); !killed {
			t.Fatalf("the child was not killed at %s", s)
		}
		check(t, dir, s)
	}
	for range *crashKills {
		dir := copyDir(t, template)
		killed, _ := runChild(t, op, dir, "", time.Duration(rand.Int64N(int64(took)+1)))
		outcome := check(t, dir, "")
		if !killed {
			outcome += " (finished)"
		}
		outcomes[outcome]++
	}
	t.Logf("%s takes %v; outcomes of %d random kills: %v", op, took, *crashKills, outcomes)
	return outcomes
}

func TestMigrateKilled(t *testing.T) {
	template, old, cur := legacyDevice(t)
	key := leaseKey("crash")
	want := map[string]string{
		"migrate-start":            "plaintext",
		"migrate-wrapped":          "plaintext and wrapped",
		"migrate-remove-plaintext": "plaintext and wrapped",
		"migrate-done":             "wrapped",
	}
	steps := []string{"migrate-start", "migrate-wrapped", "migrate-remove-plaintext", "migrate-done"}
	killLoop(t, "migrate", template, steps, func(t *testing.T, dir, step string) string {
		plain, wrapped := exists(filepath.Join(dir, FileName)), exists(filepath.Join(dir, WrappedName))
		var outcome string
		switch {
		case plain && wrapped:
			outcome = "plaintext and wrapped"
		case plain:
			outcome = "plaintext"
		case wrapped:
			outcome = "wrapped"
		default:
			t.Fatalf("killed at %q: neither the plaintext nor the wrapped identity is left", step)
		}
		if step != "" && outcome != want[step] {
			t.Fatalf("killed at %s: %s, want %s", step, outcome, want[step])
		}
		k, err := open(dir, devA, nil)
		if err != nil {
			t.Fatalf("killed at %q (%s): Open: %v", step, outcome, err)
		}
		if temps := tempFiles(t, dir); len(temps) > 0 {
			t.Fatalf("killed at %q: temporary files left after Open: %v", step, temps)
		}
		if plain {
			mustOpen(t, k, old, "sealed to the X25519 identity")
		}
		if err := k.Unlock(key, "k1"); err != nil {
			t.Fatalf("killed at %q (%s): Unlock: %v", step, outcome, err)
		}
		mustOpen(t, k, old, "sealed to the X25519 identity")
		mustOpen(t, k, cur, "sealed to the hybrid identity")
		if exists(filepath.Join(dir, FileName)) {
			t.Fatalf("killed at %q: the migration did not finish at the next Unlock", step)
		}
		noSecretText(t, dir)
		return outcome
	})
}

func TestShredKilled(t *testing.T) {
	k, template, old, _ := migratedDevice(t, "crash", osFiles)
	key := leaseKey("crash")
	if err := k.SaveOffline(time.Now().Add(72 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	steps := []string{"shred-start", "shred-marked", "shred-offline", "shred-plaintext", "shred-wrapped"}
	killLoop(t, "shred", template, steps, func(t *testing.T, dir, step string) string {
		k, err := open(dir, devA, []protector{osFile(dir)})
		if errors.Is(err, ErrWiped) {
			if step == "shred-start" {
				t.Fatal("killed before the marker, and shredded")
			}
			if got := names(t, dir); !slices.Equal(got, []string{ShreddedName}) {
				t.Fatalf("killed at %q: after the restart the state folder holds %v", step, got)
			}
			return "shredded"
		}
		if err != nil {
			t.Fatalf("killed at %q: Open: %v", step, err)
		}
		if step != "" && step != "shred-start" {
			t.Fatalf("killed at %s, after the marker, and not shredded", step)
		}
		if err := k.UnlockOffline(time.Now()); err != nil {
			t.Fatalf("killed at %q: the offline copy is not whole: %v", step, err)
		}
		k.Lock()
		if err := k.Unlock(key, "k1"); err != nil {
			t.Fatalf("killed at %q: not shredded, and does not unlock: %v", step, err)
		}
		mustOpen(t, k, old, "sealed to the X25519 identity")
		return "intact"
	})
}

// TestRewrapKilled: a rotation killed at any point leaves the identity
// wrapped with the old key or the new one, never neither.
func TestRewrapKilled(t *testing.T) {
	_, template, old, _ := migratedDevice(t, "crash", nil)
	want := map[string]string{"rewrap-start": "k1", "rewrap-written": "k2"}
	killLoop(t, "rewrap", template, []string{"rewrap-start", "rewrap-written"}, func(t *testing.T, dir, step string) string {
		k, err := open(dir, devA, nil)
		if err != nil {
			t.Fatalf("killed at %q: Open: %v", step, err)
		}
		keyID := k.KeyID()
		if step != "" && keyID != want[step] {
			t.Fatalf("killed at %s: wrapped with %s, want %s", step, keyID, want[step])
		}
		key := map[string][]byte{"k1": leaseKey("crash"), "k2": leaseKey("crash next")}[keyID]
		if key == nil {
			t.Fatalf("killed at %q: wrapped with an unknown key %q", step, keyID)
		}
		if err := k.Unlock(key, keyID); err != nil {
			t.Fatalf("killed at %q: does not unlock with %s: %v", step, keyID, err)
		}
		mustOpen(t, k, old, "sealed to the X25519 identity")
		if temps := tempFiles(t, dir); len(temps) > 0 {
			t.Fatalf("killed at %q: temporary files left after Open: %v", step, temps)
		}
		return "wrapped with " + keyID
	})
}

func tempFiles(t *testing.T, dir string) []string {
	var temps []string
	for _, n := range names(t, dir) {
		if strings.HasSuffix(n, atomicfile.TempSuffix) {
			temps = append(temps, n)
		}
	}
	return temps
}
