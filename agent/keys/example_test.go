package keys_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/internal/wire"
)

// A device just enrolled: the server served its first lease. The identity
// is made and written wrapped; after a restart it is locked until the
// server serves the lease again.
func ExampleCreate() {
	dir, _ := os.MkdirTemp("", "casekeep-state")
	defer os.RemoveAll(dir)
	const deviceID = "dev_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	key := make([]byte, wire.LeaseKeySize) // from the server's LeaseGrant
	rand.Read(key)

	k, err := keys.Create(dir, deviceID, key, "k1", true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", k.State())
	k.Lock()
	_, err = k.Identities()
	fmt.Println("locked:", k.State(), errors.Is(err, keys.ErrLocked))

	// The agent restarts, and asks the server for the lease with KeyID.
	k, err = keys.Open(dir, deviceID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restarted:", k.State(), k.KeyID())
	if err := k.Unlock(key, k.KeyID()); err != nil {
		fmt.Println(err)
		return
	}
	ids, _ := k.Identities()
	fmt.Println("unlocked:", k.State(), len(ids), "identity")
	// Output:
	// created: unlocked
	// locked: locked true
	// restarted: locked k1
	// unlocked: unlocked 1 identity
}
