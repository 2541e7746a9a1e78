package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/testenv"
)

const helperEnv = "CASEKEEP_LOCAL_HELPER_ADDR"

// The account the handler sees is the kernel's: a client run as uid 65534
// is uid 65534, not root, whatever its request says.
func TestPeerIsTheKernels(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "running a client as another user needs root")
	}
	w := &whoami{}
	s, _ := serve(t, w, Options{})
	// The test binary sits in a folder only root may read: a copy that
	// uid 65534 may run.
	cmd := testenv.AsNobody(t, os.Args[0], filepath.Dir(filepath.Dir(s.Addr())), "-test.run=^TestHelperClient$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+s.Addr())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the client as uid %d: %v\n%s", nobody, err, out)
	}
	if !strings.Contains(string(out), "helper: done") {
		t.Fatalf("the helper did not run:\n%s", out)
	}
	seen := w.seen()
	if len(seen) != 2 {
		t.Fatalf("the handler saw %d requests, want 2 (the claim in a field is refused before it):\n%s", len(seen), out)
	}
	for _, p := range seen {
		if p.UID != nobody || p.ID != "65534" || p.GID != nobody || p.Admin || p.PID == os.Getpid() || p.PID == 0 {
			t.Errorf("the handler saw %+v, want uid/gid %d, not admin, the helper's process", p, nobody)
		}
	}
}

// TestHelperClient is the client TestPeerIsTheKernels runs as another
// user; without its environment it does nothing.
func TestHelperClient(t *testing.T) {
	addr := os.Getenv(helperEnv)
	if addr == "" {
		t.Skip("run by TestPeerIsTheKernels")
	}
	if os.Geteuid() != nobody {
		t.Fatalf("helper runs as uid %d", os.Geteuid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var p Peer
	if err := c.Call(ctx, "whoami", nil, &p); err != nil {
		t.Fatal(err)
	}
	// Claims in the arguments are the handler's to ignore: the peer is
	// still the kernel's.
	claim := map[string]any{"uid": 0, "ID": "0", "Admin": true, "peer": Peer{ID: "0", Admin: true}}
	if err := c.Call(ctx, "whoami", claim, &p); err != nil {
		t.Fatal(err)
	}
	if p.UID != nobody || p.Admin {
		t.Fatalf("the service answered as %+v", p)
	}
	// A claim beside op is no field of a request: refused, unseen.
	raw, err := osPlatform{}.dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	b, _ := json.Marshal(map[string]any{"op": "whoami", "uid": 0, "peer": Peer{ID: "0", Admin: true}})
	raw.Write(frame(b))
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	rb, err := readFrame(raw, DefaultMaxResponse)
	if err != nil {
		t.Fatal(err)
	}
	var r Response
	json.Unmarshal(rb, &r)
	if !errors.Is(r.Err(), ErrMalformed) {
		t.Fatalf("a top-level claim: %+v", r)
	}
	fmt.Println("helper: done")
}
