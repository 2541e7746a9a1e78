package secret

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/casekeep/casekeep/internal/testenv"
)

func TestNewLocked(t *testing.T) {
	b := New(32)
	defer b.Destroy()
	p := b.Bytes()
	if len(p) != 32 {
		t.Fatalf("%d bytes", len(p))
	}
	for _, c := range p {
		if c != 0 {
			t.Fatal("a new buffer is not zeroed")
		}
	}
	copy(p, "thirty-two bytes of lease key!!!")
	if !b.Locked() {
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
		if os.Getuid() == 0 || lim.Cur >= uint64(os.Getpagesize()) {
			t.Fatalf("not locked, though RLIMIT_MEMLOCK is %d and uid %d", lim.Cur, os.Getuid())
		}
		testenv.Unavailable(t, "RLIMIT_MEMLOCK is %d bytes and this is not root: memory cannot be locked here", lim.Cur)
	}
	flags, locked := mapping(t, p)
	if !strings.Contains(flags, " lo ") || !strings.Contains(flags, " dd ") {
		t.Errorf("the mapping's flags are %q, want lo (locked) and dd (not dumped)", flags)
	}
	if locked == "0 kB" {
		t.Error("smaps says no page of the buffer is locked")
	}
}

// mapping returns the VmFlags and the Locked size of the mapping holding p,
// from /proc/self/smaps.
func mapping(t *testing.T, p []byte) (flags, locked string) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := uintptr(unsafe.Pointer(&p[0]))
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if !in {
			continue
		}
		if v, ok := strings.CutPrefix(line, "Locked:"); ok {
			locked = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			return v + " ", locked
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return "", ""
}
