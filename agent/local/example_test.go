//go:build unix

package local_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/casekeep/casekeep/agent/local"
)

// The service answers "whoami" with the account the kernel says is
// asking; a user's command asks.
func Example() {
	dir, _ := os.MkdirTemp("", "casekeep-example-")
	defer os.RemoveAll(dir)
	addr := filepath.Join(dir, "run", "casekeep.sock") // the service uses local.DefaultAddr()

	s, err := local.Listen(addr, local.HandlerFunc(func(ctx context.Context, p local.Peer, r local.Request) local.Response {
		switch r.Op {
		case "whoami":
			return local.Reply(map[string]any{"uid": p.UID, "admin": p.Admin})
		}
		return local.Fail(local.ErrUnknownOp)
	}), local.Options{})
	if err != nil {
		log.Fatal(err)
	}
	go s.Serve(context.Background())
	defer s.Close()

	c, err := local.Dial(context.Background(), addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var me struct {
		UID   int  `json:"uid"`
		Admin bool `json:"admin"`
	}
	if err := c.Call(context.Background(), "whoami", nil, &me); err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.UID == os.Geteuid(), me.Admin == (os.Geteuid() == 0))
	// Output: true true
}
