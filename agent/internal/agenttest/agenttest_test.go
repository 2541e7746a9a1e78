package agenttest_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/internal/wire"
)

// TestNewDevice: both kinds of device open what is sealed to them, with
// the device identity and with the escrow identity, also as written to a
// file for the age command.
func TestNewDevice(t *testing.T) {
	for _, pq := range []bool{false, true} {
		d := agenttest.NewDevice(t, pq)
		if d.Keys.PostQuantum() != pq {
			t.Errorf("post-quantum %v: device keys are post-quantum %v", pq, d.Keys.PostQuantum())
		}
		if again, err := keys.Load(d.State); err != nil || again.Recipient() == nil {
			t.Fatalf("the identity is not in the state folder: %v", err)
		}
		p := filepath.Join(t.TempDir(), "a.age")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w, err := age.Encrypt(f, d.Keys.Recipient(), d.EscrowRecipient)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("case notes"))
		w.Close()
		f.Close()

		if got := agenttest.Decrypt(t, p, d.Escrow); got != "case notes" {
			t.Errorf("escrow decrypts to %q", got)
		}
		ids, _ := d.Keys.Identities()
		if got := agenttest.Decrypt(t, p, ids...); got != "case notes" {
			t.Errorf("device identity decrypts to %q", got)
		}
		idFile := filepath.Join(t.TempDir(), "escrow.txt")
		d.WriteEscrow(t, idFile)
		b, _ := os.Open(idFile)
		parsed, err := age.ParseIdentities(b)
		b.Close()
		if err != nil || len(parsed) != 1 {
			t.Fatalf("escrow file: %v", err)
		}
		if got := agenttest.Decrypt(t, p, parsed[0]); got != "case notes" {
			t.Errorf("escrow file's identity decrypts to %q", got)
		}
		if fi, _ := os.Stat(idFile); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("escrow file mode %v", fi.Mode().Perm())
		}
		other := agenttest.NewDevice(t, pq)
		if _, err := agenttest.DecryptErr(p, other.Escrow); err == nil {
			t.Error("another device's escrow identity opened the file")
		}
	}
}

// TestSys: the fake tree's links resolve as the kernel's do.
func TestSys(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	s := agenttest.NewSys(t)
	sda := s.Disk("pci0000:00/ata1/block/sda", "8:0", map[string]string{"removable": "0"})
	sda2 := s.Part(sda, "sda2", "8:2", "")
	dm := s.DM(0, "cryptroot", "\x00", nil, sda2)
	s.Mounts("1 0 254:0 / / rw - ext4 /dev/mapper/cryptroot rw", "2 1 0:21 / /proc rw - proc proc rw")

	resolves := func(link, want string) {
		t.Helper()
		l, err := os.Readlink(filepath.Join(s.Root, link))
		if err != nil || filepath.IsAbs(l) {
			t.Errorf("%s: link %q, %v (want relative)", link, l, err)
		}
		got, err := filepath.EvalSymlinks(filepath.Join(s.Root, link))
		wantAbs, _ := filepath.EvalSymlinks(filepath.Join(s.Root, want))
		if err != nil || got != wantAbs {
			t.Errorf("%s resolves to %q, %v; want %q", link, got, err, wantAbs)
		}
	}
	resolves("sys/block/sda", sda)
	resolves("sys/dev/block/8:0", sda)
	resolves("sys/class/block/sda2", sda2)
	resolves("sys/dev/block/8:2", sda2)
	resolves("sys/class/block/dm-0", dm)
	resolves(filepath.Join(dm, "slaves", "sda2"), sda2)
	if _, err := os.Lstat(filepath.Join(s.SysRoot, "block", "sda2")); err == nil {
		t.Error("a partition is in sys/block")
	}
	for rel, want := range map[string]string{
		filepath.Join(sda, "removable"):  "0\n",
		filepath.Join(sda, "dev"):        "8:0\n",
		filepath.Join(sda2, "partition"): "1\n",
		filepath.Join(dm, "dev"):         "254:0\n",
		filepath.Join(dm, "dm", "name"):  "cryptroot\n",
		"mountinfo":                      "1 0 254:0 / / rw - ext4 /dev/mapper/cryptroot rw\n2 1 0:21 / /proc rw - proc proc rw\n",
	} {
		if b, err := os.ReadFile(filepath.Join(s.Root, rel)); err != nil || string(b) != want {
			t.Errorf("%s holds %q, %v; want %q", rel, b, err, want)
		}
	}
	for _, rel := range []string{filepath.Join(sda2, "size"), filepath.Join(dm, "dm", "uuid")} {
		if _, err := os.Stat(filepath.Join(s.Root, rel)); err == nil {
			t.Errorf("%s was written", rel)
		}
	}
	if s.MountInfo != filepath.Join(s.Root, "mountinfo") || s.SysRoot != filepath.Join(s.Root, "sys") || s.DevRoot != filepath.Join(s.Root, "dev") {
		t.Errorf("paths %+v", s)
	}
}

// TestCrashKitChild is the child TestCrashRun kills.
func TestCrashKitChild(t *testing.T) {
	agenttest.CrashVault(t).Run(context.Background())
}

// TestCrashRun: the kill loop runs its rounds in order, kills each child
// (which opened its vault on the cache it was given) and stops when After
// says so.
func TestCrashRun(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	var order []string
	c := &agenttest.Crash{Helper: "TestCrashKitChild", Device: agenttest.NewDevice(t, false), Cache: cache,
		Before: func(i int) { order = append(order, "before") },
		Wait: func(i int) {
			order = append(order, "wait")
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(cache); err == nil {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("the child did not open its vault")
				}
			}
		},
		After: func(i int) bool { order = append(order, "after"); return i < 2 },
	}
	if n := c.Run(t, 10); n != 3 {
		t.Errorf("%d kills, want 3", n)
	}
	if len(order) != 9 || order[0] != "before" || order[1] != "wait" || order[2] != "after" {
		t.Errorf("rounds ran %v", order)
	}
	if f := flag.Lookup("crash.kills"); f == nil || f.DefValue != "200" {
		t.Errorf("the -crash.kills flag: %+v", f)
	}
}

// TestRecorder: what goroutines add is kept in order, read back filtered,
// and waited on.
func TestRecorder(t *testing.T) {
	var r agenttest.Recorder[wire.Event]
	go func() {
		for _, typ := range []string{"a.one", "b.two", "a.one"} {
			time.Sleep(time.Millisecond)
			r.Add(wire.Event{Type: typ})
		}
	}()
	if got := r.Wait(t, "two a.one events", 2, agenttest.OfType("a.one")); len(got) != 2 || got[1].Type != "a.one" {
		t.Errorf("Wait = %+v", got)
	}
	if all := r.All(); len(all) != 3 || all[1].Type != "b.two" {
		t.Errorf("All = %+v", all)
	}
	if got := r.Where(agenttest.OfType("c.none")); got != nil {
		t.Errorf("Where of none = %+v", got)
	}
	r.Until(t, "three events", func() bool { return len(r.All()) == 3 })
}
