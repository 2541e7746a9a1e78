package agenttest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/state"
)

// Device is a device's keys for a test: a state folder holding the device
// identity as the agent keeps it, and an escrow identity of the same kind
// whose private half the test keeps, to open what the vault seals.
type Device struct {
	State string     // the state folder, prepared as [state.Prepare] does
	Keys  *keys.File // the device identity in State
	// Escrow is the escrow identity, an *age.X25519Identity or an
	// *age.HybridIdentity, and EscrowRecipient its public half, the vault's
	// escrow recipient. A crash child is told only the recipient, as the
	// agent never holds the escrow identity.
	Escrow          age.Identity
	EscrowRecipient age.Recipient
}

// NewDevice makes a device in a new state folder: X25519 keys, or hybrid
// post-quantum ones when postQuantum is true.
func NewDevice(t testing.TB, postQuantum bool) *Device {
	t.Helper()
	d := &Device{State: filepath.Join(t.TempDir(), "state")}
	if err := state.Prepare(d.State); err != nil {
		t.Fatal(err)
	}
	var err error
	if d.Keys, err = keys.LoadOrCreate(d.State, postQuantum, time.Now()); err != nil {
		t.Fatal(err)
	}
	if postQuantum {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		d.Escrow, d.EscrowRecipient = id, id.Recipient()
	} else {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		d.Escrow, d.EscrowRecipient = id, id.Recipient()
	}
	return d
}

// WriteEscrow writes the escrow identity to the file path with mode 0600,
// as IT security keeps it for the age command's --identity.
func (d *Device) WriteEscrow(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(fmt.Sprint(d.Escrow)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// DecryptErr opens the age file at path with ids and returns its plaintext.
func DecryptErr(path string, ids ...age.Identity) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := age.Decrypt(f, ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Decrypt opens the age file at path with ids and returns its plaintext;
// an error fails the test, naming the file.
func Decrypt(t testing.TB, path string, ids ...age.Identity) string {
	t.Helper()
	b, err := DecryptErr(path, ids...)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}

// UserLink makes a symbolic link at link to target owned by an ordinary
// user, as one a user makes in their own folders is: a test running as root
// would otherwise make root's, which the agent trusts.
func UserLink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(link, 12345, 12345); err != nil {
			t.Fatal(err)
		}
	}
}

// WriteOld writes content to the file at path, making its folders, and
// dates it a minute ago, so that the code under test finds it settled.
func WriteOld(t testing.TB, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	os.Chtimes(path, past, past)
}
