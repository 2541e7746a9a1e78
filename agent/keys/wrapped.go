package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/casekeep/casekeep/agent/internal/secret"
	"github.com/casekeep/casekeep/internal/wire"
)

// WrappedName is the name of the wrapped identity in the state folder.
const WrappedName = "device-identity.wrapped"

// ErrDamaged is returned when a wrapped identity or an offline copy is
// malformed, truncated or fails its authentication with the right key.
var ErrDamaged = errors.New("damaged key file")

// ErrWrongKey is returned when a lease key does not open the wrapped
// identity: another key ID, or a key that is not the one it was wrapped
// with.
var ErrWrongKey = errors.New("the lease key does not open the wrapped identity")

// ErrOtherDevice is returned when a wrapped identity or an offline copy
// names another device.
var ErrOtherDevice = errors.New("the key file belongs to another device")

// The wrapped identity file: a text header, then the sealed identities.
//
//	casekeep-wrapped-identity v1
//	device dev_...
//	key-id <the lease key's ID>
//	key-check <base64 of 16 bytes: HMAC-SHA256(lease key, keyCheckLabel)>
//	sealed <bytes after the header>
//	recipient age1... (one line per identity, newest first)
//	---
//	<24-byte nonce><XChaCha20-Poly1305 ciphertext>
//
// The header, up to and including "---\n", is the AEAD's associated data,
// so a header edited or moved to another file (another device, another key
// ID, other recipients) fails to open. The recipients let the vault seal
// while the identity is locked; the key check tells a wrong lease key
// from a damaged file; the length makes truncation a clear error. The
// plaintext is one identity per line ("AGE-SECRET-KEY-..."), newest first.
const (
	wrappedMagic  = "casekeep-wrapped-identity v1"
	keyCheckLabel = "casekeep wrapped identity key check v1"
	headerEnd     = "---\n"
	maxIdentities = 32        // a kind change adds one; 32 is decades of them
	maxWrapped    = 256 << 10 // hybrid recipients are about 2 KB each
	keyCheckSize  = 16
)

// wrapped is a parsed wrapped identity, not yet opened.
type wrapped struct {
	deviceID   string
	keyID      string
	keyCheck   []byte
	recipients []string // newest first
	header     []byte   // the associated data
	sealed     []byte   // nonce and ciphertext
}

// parseWrapped parses a wrapped identity file. It checks the form only; the
// key, the device and the contents are checked by open.
func parseWrapped(b []byte) (*wrapped, error) {
	if len(b) > maxWrapped {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrDamaged, len(b), maxWrapped)
	}
	end := bytes.Index(b, []byte("\n"+headerEnd))
	if end < 0 {
		return nil, fmt.Errorf("%w: no end of header", ErrDamaged)
	}
	w := &wrapped{header: b[:end+1+len(headerEnd)]}
	lines := strings.Split(string(b[:end]), "\n")
	field := func(i int, name string) (string, error) {
		if i >= len(lines) {
			return "", fmt.Errorf("%w: no %s line", ErrDamaged, name)
		}
		v, ok := strings.CutPrefix(lines[i], name+" ")
		if !ok {
			return "", fmt.Errorf("%w: line %d is not %q", ErrDamaged, i+1, name)
		}
		return v, nil
	}
	if lines[0] != wrappedMagic {
		return nil, fmt.Errorf("%w: not a casekeep wrapped identity (v1)", ErrDamaged)
	}
	var err error
	if w.deviceID, err = field(1, "device"); err != nil {
		return nil, err
	}
	if !wire.ValidDeviceID(w.deviceID) {
		return nil, fmt.Errorf("%w: the device is not a device ID", ErrDamaged)
	}
	if w.keyID, err = field(2, "key-id"); err != nil {
		return nil, err
	}
	if !wire.ValidKeyID(w.keyID) {
		return nil, fmt.Errorf("%w: the key-id is not a key ID", ErrDamaged)
	}
	check, err := field(3, "key-check")
	if err != nil {
		return nil, err
	}
	if w.keyCheck, err = base64.RawStdEncoding.Strict().DecodeString(check); err != nil || len(w.keyCheck) != keyCheckSize {
		return nil, fmt.Errorf("%w: bad key-check", ErrDamaged)
	}
	size, err := field(4, "sealed")
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(size)
	if err != nil || n < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead || n > maxWrapped || size != strconv.Itoa(n) {
		return nil, fmt.Errorf("%w: bad sealed size", ErrDamaged)
	}
	for i := 5; i < len(lines); i++ {
		r, err := field(i, "recipient")
		if err != nil {
			return nil, err
		}
		if _, err := parseRecipient(r); err != nil {
			return nil, fmt.Errorf("%w: recipient %d: %v", ErrDamaged, i-4, err)
		}
		w.recipients = append(w.recipients, r)
	}
	if len(w.recipients) == 0 || len(w.recipients) > maxIdentities {
		return nil, fmt.Errorf("%w: %d recipients", ErrDamaged, len(w.recipients))
	}
	w.sealed = b[len(w.header):]
	if len(w.sealed) != n {
		return nil, fmt.Errorf("%w: %d sealed bytes, the header says %d (truncated?)", ErrDamaged, len(w.sealed), n)
	}
	return w, nil
}

// open checks that w is this device's and wrapped with key, and returns
// the identities, newest first, and their text in locked memory.
func (w *wrapped) open(deviceID string, key []byte) (*secret.Buffer, []age.Identity, error) {
	if w.deviceID != deviceID {
		return nil, nil, fmt.Errorf("%w: the wrapped identity is %s's, not %s's", ErrOtherDevice, w.deviceID, deviceID)
	}
	if len(key) != wire.LeaseKeySize {
		return nil, nil, fmt.Errorf("%w: a lease key is %d bytes, not %d", ErrWrongKey, wire.LeaseKeySize, len(key))
	}
	if !hmac.Equal(keyCheck(key), w.keyCheck) {
		return nil, nil, fmt.Errorf("%w (key %s)", ErrWrongKey, w.keyID)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, nil, err
	}
	nonce, ct := w.sealed[:aead.NonceSize()], w.sealed[aead.NonceSize():]
	plain := secret.New(len(ct)) // len(ct) > Overhead, checked by parseWrapped
	p, err := aead.Open(plain.Bytes()[:0], nonce, ct, w.header)
	if err != nil {
		plain.Destroy()
		return nil, nil, fmt.Errorf("%w: the sealed identities do not authenticate", ErrDamaged)
	}
	payload := secret.From(p)
	plain.Destroy()
	ids, recipients, err := parsePayload(payload.Bytes())
	if err != nil {
		payload.Destroy()
		return nil, nil, err
	}
	if !slices.Equal(recipients, w.recipients) {
		payload.Destroy()
		return nil, nil, fmt.Errorf("%w: the header's recipients are not the sealed identities'", ErrDamaged)
	}
	return payload, ids, nil
}

// sealWrapped wraps payload (identity lines, newest first) with key.
func sealWrapped(deviceID, keyID string, key, payload []byte) ([]byte, error) {
	_, recipients, err := parsePayload(payload)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	var h bytes.Buffer
	fmt.Fprintf(&h, "%s\ndevice %s\nkey-id %s\nkey-check %s\nsealed %d\n", wrappedMagic, deviceID, keyID,
		base64.RawStdEncoding.EncodeToString(keyCheck(key)), aead.NonceSize()+len(payload)+aead.Overhead())
	for _, r := range recipients {
		fmt.Fprintf(&h, "recipient %s\n", r)
	}
	h.WriteString(headerEnd)
	header := h.Bytes()
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(header, nonce...)
	return aead.Seal(out, nonce, payload, header), nil
}

func keyCheck(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(keyCheckLabel))
	return m.Sum(nil)[:keyCheckSize]
}

// parsePayload parses identity lines, newest first, and returns the
// identities and their recipients. Its errors never quote the payload.
//
// The parsed identities live in the Go heap (age keeps them there), and
// so does the string each line is parsed from: only the payload itself is
// in locked memory.
func parsePayload(p []byte) ([]age.Identity, []string, error) {
	if len(p) == 0 || p[len(p)-1] != '\n' {
		return nil, nil, fmt.Errorf("%w: the sealed identities are not lines", ErrDamaged)
	}
	lines := bytes.Split(p[:len(p)-1], []byte("\n"))
	if len(lines) > maxIdentities {
		return nil, nil, fmt.Errorf("%w: %d identities", ErrDamaged, len(lines))
	}
	var ids []age.Identity
	var recipients []string
	for i, line := range lines {
		id, r, err := parseIdentity(string(line))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: identity %d is not an age identity", ErrDamaged, i+1)
		}
		ids = append(ids, id)
		recipients = append(recipients, r)
	}
	return ids, recipients, nil
}

// parseIdentity parses one X25519 or hybrid identity and returns its
// recipient's string.
func parseIdentity(s string) (age.Identity, string, error) {
	if strings.HasPrefix(s, "AGE-SECRET-KEY-PQ-1") {
		id, err := age.ParseHybridIdentity(s)
		if err != nil {
			return nil, "", err
		}
		return id, id.Recipient().String(), nil
	}
	id, err := age.ParseX25519Identity(s)
	if err != nil {
		return nil, "", err
	}
	return id, id.Recipient().String(), nil
}

// identityString returns the text form of an identity this package made.
func identityString(id age.Identity) (string, error) {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.String(), nil
	case *age.HybridIdentity:
		return id.String(), nil
	}
	return "", fmt.Errorf("unsupported identity type %T", id)
}

// parseRecipient parses an X25519 or hybrid recipient.
func parseRecipient(s string) (age.Recipient, error) {
	if strings.HasPrefix(s, "age1pq1") {
		return age.ParseHybridRecipient(s)
	}
	return age.ParseX25519Recipient(s)
}
