package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// While the identity is locked the vault seals to the public recipients in
// the wrapped file's header, which only the lease key authenticates (the
// header is the AEAD's associated data). So that someone who can write the
// state folder, but not read its secrets, cannot swap them for their own
// (new case files would then be sealed to them) the recipients the keyring
// has authenticated, by opening the identity with the lease key, are
// pinned: [PinName] keeps an HMAC of them under a key the caller derives
// from a secret of the state folder (the device signing key). A Keyring
// opened locked seals only to recipients it authenticated itself or that
// match the pin ([Keyring.RecipientChecked]); a mismatch is
// [ErrRecipientChanged].

// PinName is the name, in the state folder, of the pin of the device's
// public recipients. It holds no secret.
const PinName = "device-identity.pin"

// ErrRecipientChanged is returned by [Keyring.SetPinKey] when the wrapped
// identity's recipients are not the ones pinned: the file was changed by
// someone else than the keyring. Nothing is sealed to them.
var ErrRecipientChanged = errors.New("the device identity's public recipients are not the ones pinned")

const pinMagic = "casekeep recipients pin v1\n"

// PinKeyFrom derives the key of the recipients' pin from the device
// signing key (root/SYSTEM only, the same each start); nil if it is not
// an Ed25519 private key.
func PinKeyFrom(signingKey ed25519.PrivateKey) []byte {
	if len(signingKey) != ed25519.PrivateKeySize {
		return nil
	}
	h := sha256.New()
	h.Write([]byte("casekeep recipients pin key v1\x00"))
	h.Write(signingKey.Seed())
	return h.Sum(nil)
}

func (k *Keyring) pinOf(rs []string) string {
	m := hmac.New(sha256.New, k.pinKey)
	m.Write([]byte(pinMagic + k.deviceID + "\n" + strings.Join(rs, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

// SetPinKey sets the key of the recipients' pin (at least 32 bytes, from
// a secret of the state folder the caller holds: the same each start) and
// checks the recipients read from the wrapped file against the pin kept in
// the state folder: an error wrapping [ErrRecipientChanged] if they differ
// (the Keyring then seals to nothing: [Keyring.RecipientChecked] stays
// false). Without a pin yet, the recipients are unchecked until the
// keyring is unlocked, which pins them; an unlocked keyring pins them now.
func (k *Keyring) SetPinKey(key []byte) error {
	if len(key) < 32 {
		return errors.New("keys: a pin key is at least 32 bytes")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pinKey = slices.Clone(key)
	if k.checked {
		return k.savePinLocked()
	}
	b, err := readPrivate(filepath.Join(k.dir, PinName), 4<<10)
	switch {
	case isNotExist(err):
		return nil
	case err != nil:
		return err
	}
	got := strings.TrimSpace(strings.TrimPrefix(string(b), pinMagic))
	if !bytes.HasPrefix(b, []byte(pinMagic)) || !hmac.Equal([]byte(got), []byte(k.pinOf(k.recipients))) {
		k.pinBad = true
		return fmt.Errorf("%w: %s was changed since the keyring last opened it (its recipients are %s)", ErrRecipientChanged, WrappedName, strings.Join(shortRecipients(k.recipients), ", "))
	}
	k.checked = true
	return nil
}

// savePinLocked pins k.recipients, authenticated, if a pin key is set.
func (k *Keyring) savePinLocked() error {
	if len(k.pinKey) == 0 || !k.checked {
		return nil
	}
	want := pinMagic + k.pinOf(k.recipients) + "\n"
	if b, err := readPrivate(filepath.Join(k.dir, PinName), 4<<10); err == nil && string(b) == want {
		return nil
	}
	if err := atomicfile.WriteFile(filepath.Join(k.dir, PinName), []byte(want), 0o600); err != nil {
		return fmt.Errorf("pinning the device's recipients: %w", err)
	}
	return nil
}

// RecipientChecked reports whether the recipient new files are sealed to
// is authenticated: read from the wrapped identity while it opened with the
// lease key (in this process), or matching the pin. While it is not, the
// caller should not seal to it.
func (k *Keyring) RecipientChecked() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.checked && !k.pinBad
}

func shortRecipients(rs []string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		if len(r) > 24 {
			r = r[:16] + "…" + r[len(r)-6:]
		}
		out[i] = r
	}
	return out
}
