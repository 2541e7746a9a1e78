package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"filippo.io/age"
)

// swapRecipient rewrites the wrapped identity's header to name another
// recipient, as someone who can write the state folder could.
func swapRecipient(t testing.TB, dir string) *age.X25519Identity {
	t.Helper()
	theirs, _ := age.GenerateX25519Identity()
	p := filepath.Join(dir, WrappedName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^recipient age1[0-9a-z]+$`)
	if !re.Match(b) {
		t.Fatalf("no recipient line in %q", b[:200])
	}
	b = re.ReplaceAll(b, []byte("recipient "+theirs.Recipient().String()))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return theirs
}

// TestRecipientPin: the recipients a keyring authenticated are pinned; a
// keyring opened locked trusts the wrapped file's recipients only if they
// match the pin, and reports a file changed to name someone else's.
func TestRecipientPin(t *testing.T) {
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	pk := PinKeyFrom(sk)
	k, dir, _ := offlineDevice(t)
	if err := k.SetPinKey(pk); err != nil || !k.RecipientChecked() {
		t.Fatalf("a keyring just made: %v, checked %v", err, k.RecipientChecked())
	}
	if _, err := os.Lstat(filepath.Join(dir, PinName)); err != nil {
		t.Fatalf("no pin: %v", err)
	}
	mine := k.Recipient().(*age.X25519Recipient).String()

	// Reopened locked, unchanged: checked by the pin.
	r, err := open(dir, devA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.RecipientChecked() {
		t.Error("checked before the pin key is set")
	}
	if err := r.SetPinKey(pk); err != nil || !r.RecipientChecked() {
		t.Fatalf("reopened: %v, checked %v", err, r.RecipientChecked())
	}
	// Another pin key (another device's secret) does not match.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	r, _ = open(dir, devA, nil)
	wantErr(t, "another pin key", r.SetPinKey(PinKeyFrom(other)), ErrRecipientChanged)

	// Someone swaps the recipient: refused, and the lease does not open it.
	swapRecipient(t, dir)
	r, err = open(dir, devA, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a swapped recipient", r.SetPinKey(pk), ErrRecipientChanged)
	if r.RecipientChecked() {
		t.Error("a swapped recipient is checked")
	}
	wantErr(t, "unlocking a swapped header", r.Unlock(leaseKey("offline"), "k1"), ErrDamaged)
	if r.RecipientChecked() {
		t.Error("checked after a failed unlock")
	}

	// With the pin gone too, unchecked until an unlock authenticates it.
	os.Remove(filepath.Join(dir, PinName))
	r, _ = open(dir, devA, nil)
	if err := r.SetPinKey(pk); err != nil || r.RecipientChecked() {
		t.Errorf("without a pin: %v, checked %v", err, r.RecipientChecked())
	}
	if bytes.Contains([]byte(r.Recipient().(*age.X25519Recipient).String()), []byte(mine)) {
		t.Error("the test did not swap the recipient")
	}
}
