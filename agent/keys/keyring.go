package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/secret"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
)

// ShreddedName is the name of the marker a crypto-shred leaves in the state
// folder: written first, so that a shred interrupted by a crash is finished
// by the next [Open], and kept, so that a wiped device does not quietly make
// itself a new identity.
const ShreddedName = "device-identity.shredded"

// ErrWiped is returned when the device identity has been crypto-shredded.
// [Keyring.Identities] returns it wrapped together with [ErrLocked].
var ErrWiped = errors.New("the device identity has been shredded")

// resealAfter is how far a renewal must move the offline copy's expiry
// before SaveOffline writes it again. Renewals come with every heartbeat
// the server answers; skipping the small moves keeps them cheap (a TPM
// seal is tens of milliseconds on a real chip), at the cost of the copy
// expiring up to this much earlier than the server allowed: never later.
const resealAfter = 10 * time.Minute

// Keyring is the age identity of a device enrolled with a server: on disk
// only wrapped by the device's lease key, which the server holds, and
// open in memory only between an Unlock and a Lock. It implements [Device]:
// Recipient works while locked (sealing needs only the public key, kept in
// the wrapped file's header), and Identities returns an error wrapping
// [ErrLocked] until the lease key is given.
//
// While unlocked, the lease key and the identities' text are kept in memory
// locked against swap and left out of core dumps where the OS allows
// ([Keyring.MemoryLocked] says whether it did). The identities age parses
// from that text live in the Go heap, which cannot be locked: a process
// memory dump taken while the vault is unlocked can contain them, and so
// can the copies of the offline copy that go-tpm, DPAPI or the keychain
// are handed while sealing. Call [DisableCoreDumps] at start so that a
// crash, at least, does not write them to disk.
//
// A Keyring is safe for concurrent use. Offline-copy operations (which may
// talk to a TPM) never block Identities.
type Keyring struct {
	dir, deviceID string

	offMu      sync.Mutex  // serialises protector operations; taken before mu
	protectors []protector // best first

	mu         sync.Mutex
	recipients []string // newest first: the wrapped header's, or the plaintext file's
	recipient  age.Recipient
	keyID      string // of the wrapped file on disk, "" if none
	legacy     *File  // the plaintext file, before migration
	legacyOff  bool   // Lock was called while only the plaintext file exists
	ids        []age.Identity
	payload    *secret.Buffer // the identities' text, newest first
	lease      *secret.Buffer // the lease key
	offline    bool           // unlocked from the offline copy
	wiped      bool
	held       protector // the protector holding the offline copy, or nil
	until      time.Time // the held copy's expiry, zero if not yet read
	heldKeyID  string    // the held copy's key ID, "" if not yet read
	now        func() time.Time

	// The floor of trusted time (clock.go): the server's time floor,
	// received at the local reading floorAt; floorSaved is what the state
	// folder keeps.
	floor, floorAt, floorSaved time.Time

	// The recipients' pin (pin.go): its key, whether recipients are
	// authenticated (by the lease key in this process, or the pin), and
	// whether the pin showed them changed.
	pinKey          []byte
	checked, pinBad bool
}

var _ Device = (*Keyring)(nil)

// testHook, when a test sets it, is called at each step of a migration, a
// rewrap and a shred, with the step's name; the crash tests kill the
// process there.
var testHook func(step string)

func step(name string) {
	if testHook != nil {
		testHook(name)
	}
}

// Open opens the device identity in the state folder dir for the enrolled
// device deviceID, locked. It returns an error wrapping [ErrNoIdentity] if
// there is none (call [Create]), and one wrapping [ErrWiped] if it was
// shredded (finishing a shred a crash interrupted). A device enrolled
// before identities were wrapped still has the plaintext file: the
// Keyring then opens it (State is wire.LeasePlaintext) and the first
// [Keyring.Unlock] migrates it.
func Open(dir, deviceID string) (*Keyring, error) {
	return open(dir, deviceID, defaultProtectors(dir))
}

func open(dir, deviceID string, protectors []protector) (*Keyring, error) {
	if !wire.ValidDeviceID(deviceID) {
		return nil, fmt.Errorf("keys: %q is not a device ID", deviceID)
	}
	k := &Keyring{dir: dir, deviceID: deviceID, protectors: protectors, now: time.Now}
	removeTemps(dir)
	k.loadFloor()
	if shredded, err := k.shreddedHere(); err != nil {
		return nil, err
	} else if shredded {
		if err := k.shredFiles(); err != nil {
			return nil, fmt.Errorf("finishing the shred of the device identity: %w", err)
		}
		return nil, fmt.Errorf("%w (device %s)", ErrWiped, deviceID)
	}
	legacy, err := Load(dir)
	if err != nil && !errors.Is(err, ErrNoIdentity) {
		return nil, err
	}
	w, err := k.readWrapped()
	if err != nil && !isNotExist(err) && legacy == nil {
		return nil, err
	}
	// With the plaintext file there, a wrapped file that does not parse
	// (damaged, another device's) is reported by Unlock, which refuses to
	// migrate over it; the plaintext identity keeps the vault working.
	switch {
	case w != nil:
		k.keyID = w.keyID
		k.setRecipients(w.recipients)
	case legacy != nil:
		rs, err := recipientsOf(legacy.ids)
		if err != nil {
			return nil, err
		}
		k.setRecipients(rs)
		k.checked = true // derived from the identities themselves
	default:
		return nil, fmt.Errorf("%w in %s", ErrNoIdentity, dir)
	}
	k.legacy = legacy
	for _, p := range protectors {
		if p.held() {
			k.held = p
			break
		}
	}
	return k, nil
}

// Create makes the age identity of a freshly enrolled device (hybrid
// post-quantum or X25519) in memory and writes it to the state folder dir
// wrapped with the lease key: it is never written in plaintext. The
// Keyring it returns is unlocked. It fails with an error wrapping
// fs.ErrExist if dir already holds an identity, and one wrapping
// [ErrWiped] if this device's identity was shredded.
func Create(dir, deviceID string, key []byte, keyID string, postQuantum bool) (*Keyring, error) {
	return create(dir, deviceID, key, keyID, postQuantum, defaultProtectors(dir))
}

func create(dir, deviceID string, key []byte, keyID string, postQuantum bool, protectors []protector) (*Keyring, error) {
	if err := checkLease(key, keyID); err != nil {
		return nil, err
	}
	k, err := open(dir, deviceID, protectors)
	switch {
	case err == nil:
		return nil, fmt.Errorf("keys: %s already holds a device identity: %w", dir, fs.ErrExist)
	case !errors.Is(err, ErrNoIdentity):
		return nil, err
	}
	k = &Keyring{dir: dir, deviceID: deviceID, protectors: protectors, now: time.Now}
	k.loadFloor()
	line, err := generate(postQuantum)
	if err != nil {
		return nil, err
	}
	payload := secret.From([]byte(line + "\n"))
	defer payload.Destroy()
	if err := k.writeWrapped(key, keyID, payload.Bytes(), true); err != nil {
		return nil, err
	}
	// Another device's shred marker (the folder was re-enrolled) is stale.
	os.Remove(filepath.Join(dir, ShreddedName))
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.unlockLocked(key, keyID, false); err != nil {
		return nil, err
	}
	return k, nil
}

// Recipient implements [Device]: the newest identity's public key. It
// works while locked.
func (k *Keyring) Recipient() age.Recipient {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.recipient
}

// Identities implements [Device]. It returns an error wrapping [ErrLocked]
// while the lease key is not in memory (and [ErrWiped] too after a shred).
// Before migration, the plaintext file's identities are returned (they are
// on disk in plaintext anyway) unless Lock was called.
func (k *Keyring) Identities() ([]age.Identity, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.wiped:
		return nil, fmt.Errorf("%w: %w", ErrLocked, ErrWiped)
	case k.ids != nil:
		return slices.Clone(k.ids), nil
	case k.legacy != nil && !k.legacyOff:
		return slices.Clone(k.legacy.ids), nil
	}
	return nil, fmt.Errorf("%w: no lease", ErrLocked)
}

// PostQuantum reports whether the newest identity is hybrid post-quantum.
func (k *Keyring) PostQuantum() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.recipient.(*age.HybridRecipient)
	return ok
}

// State returns the lease state to report in heartbeats: wire.LeaseWiped
// after a shred, wire.LeasePlaintext while the plaintext file exists (not
// yet migrated), wire.LeaseUnlocked or wire.LeaseOffline while the lease
// key (from the server, or from the offline copy) is in memory, and
// wire.LeaseLocked otherwise.
func (k *Keyring) State() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.wiped:
		return wire.LeaseWiped
	case k.legacy != nil:
		return wire.LeasePlaintext
	case k.ids != nil && k.offline:
		return wire.LeaseOffline
	case k.ids != nil:
		return wire.LeaseUnlocked
	}
	return wire.LeaseLocked
}

// KeyID returns the ID of the lease key the wrapped identity needs, to put
// in a LeaseRequest; "" if the identity is not wrapped yet.
func (k *Keyring) KeyID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keyID
}

// MemoryLocked reports whether the lease key in memory is locked against
// swap (false while locked, and where the OS refused: RLIMIT_MEMLOCK).
func (k *Keyring) MemoryLocked() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lease != nil && k.lease.Locked() && k.payload.Locked()
}

// Unlock opens the wrapped identity with a lease key the server served.
// If the plaintext file of a device enrolled before wrapping exists, it
// migrates: it wraps every identity with the key, reads the wrapped file
// back and checks that it opens to the same identities, and only then
// removes the plaintext file. A crash at any point leaves the plaintext
// file, the wrapped one, or both (finished by the next Unlock): never
// neither. Errors wrap [ErrWrongKey], [ErrOtherDevice], [ErrDamaged],
// [ErrNoIdentity] or [ErrWiped]; the plaintext file is never removed
// unless the wrapped file was verified.
func (k *Keyring) Unlock(key []byte, keyID string) error {
	if err := checkLease(key, keyID); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.unlockLocked(key, keyID, false)
}

func (k *Keyring) unlockLocked(key []byte, keyID string, offline bool) error {
	if k.wiped {
		return ErrWiped
	}
	w, err := k.readWrapped()
	switch {
	case isNotExist(err) && k.legacy == nil:
		return fmt.Errorf("%w in %s", ErrNoIdentity, k.dir)
	case isNotExist(err):
		if err := k.migrate(key, keyID); err != nil {
			return err
		}
		if w, err = k.readWrapped(); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if w.keyID != keyID {
		return fmt.Errorf("%w: it is wrapped with key %s, not %s", ErrWrongKey, w.keyID, keyID)
	}
	payload, ids, err := w.open(k.deviceID, key)
	if err != nil {
		return err
	}
	if k.legacy != nil {
		// Both files: a migration was interrupted after the wrapped file was
		// written. Keep any identity only the plaintext file has, then
		// remove it.
		merged, changed, err := mergePayload(payload.Bytes(), k.legacy.ids)
		if err != nil {
			payload.Destroy()
			return err
		}
		if changed {
			payload.Destroy()
			defer merged.Destroy()
			if err := k.writeWrapped(key, keyID, merged.Bytes(), false); err != nil {
				return err
			}
			return k.unlockLocked(key, keyID, offline)
		}
		merged.Destroy()
		step("migrate-remove-plaintext")
		if err := atomicfile.Remove(filepath.Join(k.dir, FileName)); err != nil {
			payload.Destroy()
			return fmt.Errorf("removing the plaintext identity after wrapping it: %w", err)
		}
		step("migrate-done")
		k.legacy, k.legacyOff = nil, false
	}
	k.forget()
	k.payload, k.ids, k.lease = payload, ids, secret.From(slices.Clone(key))
	k.keyID, k.offline = keyID, offline
	k.setRecipients(w.recipients)
	// w.open checked the header's recipients against the sealed
	// identities, under the lease key: they are authenticated.
	k.checked, k.pinBad = true, false
	if err := k.savePinLocked(); err != nil {
		return err
	}
	return nil
}

// migrate wraps the plaintext file's identities with key into a new
// wrapped file (checked by the caller, which then removes the plaintext).
func (k *Keyring) migrate(key []byte, keyID string) error {
	payload, err := payloadOf(k.legacy.ids)
	if err != nil {
		return err
	}
	defer payload.Destroy()
	step("migrate-start")
	if err := k.writeWrapped(key, keyID, payload.Bytes(), true); err != nil {
		return fmt.Errorf("wrapping the plaintext identity: %w", err)
	}
	step("migrate-wrapped")
	return nil
}

// Lock forgets the identities and the lease key (zeroing the memory that
// held them). The offline copy, if any, stays: see [Keyring.DropOffline].
func (k *Keyring) Lock() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forget()
	if k.legacy != nil {
		k.legacyOff = true
	}
}

func (k *Keyring) forget() {
	k.payload.Destroy()
	k.lease.Destroy()
	k.payload, k.lease, k.ids, k.offline = nil, nil, nil, false
}

// EnsureKind makes the newest identity of the kind the policy asks for
// (hybrid post-quantum or X25519): if it is not, a new identity of that
// kind is made and wrapped in front of the others, which are kept to open
// the files sealed before. It reports whether it added one. It needs the
// lease key (an error wrapping [ErrLocked] otherwise).
func (k *Keyring) EnsureKind(postQuantum bool) (added bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.needLease(); err != nil {
		return false, err
	}
	if _, pq := k.recipient.(*age.HybridRecipient); pq == postQuantum {
		return false, nil
	}
	if len(k.ids) >= maxIdentities {
		return false, fmt.Errorf("keys: already %d identities", len(k.ids))
	}
	line, err := generate(postQuantum)
	if err != nil {
		return false, err
	}
	old := k.payload.Bytes()
	payload := secret.New(len(line) + 1 + len(old))
	defer payload.Destroy()
	copy(payload.Bytes(), line+"\n")
	copy(payload.Bytes()[len(line)+1:], old)
	key := slices.Clone(k.lease.Bytes())
	defer clear(key)
	if err := k.writeWrapped(key, k.keyID, payload.Bytes(), false); err != nil {
		return false, err
	}
	return true, k.unlockLocked(key, k.keyID, k.offline)
}

// Rewrap wraps the identities with a new lease key (a rotation), replacing
// the wrapped file atomically: a crash leaves the old file or the new one,
// never neither; the new one is read back and checked before Rewrap
// returns. It needs the current lease key in memory. An offline copy held
// is saved again with the new key (or dropped if that fails: the next
// SaveOffline makes it again).
func (k *Keyring) Rewrap(key []byte, keyID string) error {
	if err := checkLease(key, keyID); err != nil {
		return err
	}
	k.mu.Lock()
	if err := k.needLease(); err != nil {
		k.mu.Unlock()
		return err
	}
	if keyID == k.keyID {
		same := bytes.Equal(key, k.lease.Bytes())
		k.mu.Unlock()
		if !same {
			return fmt.Errorf("%w: key %s is already in use with another key", ErrWrongKey, keyID)
		}
		return nil
	}
	step("rewrap-start")
	err := k.writeWrapped(key, keyID, k.payload.Bytes(), false)
	if err == nil {
		step("rewrap-written")
		err = k.unlockLocked(key, keyID, k.offline)
	}
	until := k.until
	k.mu.Unlock()
	if err != nil {
		return err
	}
	k.offMu.Lock()
	defer k.offMu.Unlock()
	k.mu.Lock()
	held := k.held != nil
	k.mu.Unlock()
	if held && (until.IsZero() || k.saveOfflineLocked(until, true) != nil) {
		// A copy of the old key would only fail later: drop it.
		k.dropOfflineLocked()
	}
	return nil
}

// Shred crypto-shreds the device identity: it writes the shred marker,
// then removes the offline copy, the plaintext file and the wrapped file,
// and forgets the keys in memory. A crash part way is finished by the
// next [Open], which then returns [ErrWiped]: after a restart the identity
// is either still whole or shredded, never half. It is idempotent. (On an
// SSD a removed file's blocks may survive; what makes the shred final is
// that the server destroys the lease key, without which the wrapped file
// opens nothing.)
func (k *Keyring) Shred() error {
	k.offMu.Lock()
	defer k.offMu.Unlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	step("shred-start")
	marker := fmt.Sprintf("casekeep device identity shredded\ndevice %s\nat %s\n", k.deviceID, k.now().UTC().Format(time.RFC3339))
	if err := atomicfile.WriteFile(filepath.Join(k.dir, ShreddedName), []byte(marker), 0o600); err != nil {
		return fmt.Errorf("marking the device identity shredded: %w", err)
	}
	step("shred-marked")
	k.forget()
	k.wiped = true
	k.legacy, k.held, k.until, k.heldKeyID = nil, nil, time.Time{}, ""
	return k.shredFiles()
}

// shreddedHere reports whether the shred marker names this device.
func (k *Keyring) shreddedHere() (bool, error) {
	b, err := readPrivate(filepath.Join(k.dir, ShreddedName), 4<<10)
	if isNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return bytes.Contains(b, []byte("\ndevice "+k.deviceID+"\n")), nil
}

func (k *Keyring) needLease() error {
	switch {
	case k.wiped:
		return fmt.Errorf("%w: %w", ErrLocked, ErrWiped)
	case k.lease == nil:
		return fmt.Errorf("%w: no lease key in memory", ErrLocked)
	}
	return nil
}

// readWrapped reads and parses the wrapped file (not opening it).
func (k *Keyring) readWrapped() (*wrapped, error) {
	b, err := readPrivate(filepath.Join(k.dir, WrappedName), maxWrapped)
	if err != nil {
		return nil, err
	}
	w, err := parseWrapped(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", WrappedName, err)
	}
	if w.deviceID != k.deviceID {
		return nil, fmt.Errorf("%s: %w: it is %s's, not %s's", WrappedName, ErrOtherDevice, w.deviceID, k.deviceID)
	}
	return w, nil
}

// writeWrapped wraps payload with key into the wrapped file (a new one if
// createNew, else replacing it atomically), then reads it back and checks
// that it opens to the same payload.
func (k *Keyring) writeWrapped(key []byte, keyID string, payload []byte, createNew bool) error {
	data, err := sealWrapped(k.deviceID, keyID, key, payload)
	if err != nil {
		return err
	}
	path := filepath.Join(k.dir, WrappedName)
	if createNew {
		err = atomicfile.CreateNew(path, data, 0o600)
	} else {
		err = atomicfile.WriteFile(path, data, 0o600)
	}
	if err != nil {
		return fmt.Errorf("writing the wrapped identity: %w", err)
	}
	w, err := k.readWrapped()
	if err != nil {
		return fmt.Errorf("reading back the wrapped identity: %w", err)
	}
	back, _, err := w.open(k.deviceID, key)
	if err != nil {
		return fmt.Errorf("reading back the wrapped identity: %w", err)
	}
	defer back.Destroy()
	if !bytes.Equal(back.Bytes(), payload) {
		return fmt.Errorf("%w: the wrapped identity read back differs", ErrDamaged)
	}
	return nil
}

func (k *Keyring) setRecipients(rs []string) {
	r, err := parseRecipient(rs[0]) // checked by the parsers
	if err != nil {
		panic("keys: a checked recipient does not parse: " + err.Error())
	}
	k.recipients, k.recipient = rs, r
}

func checkLease(key []byte, keyID string) error {
	if len(key) != wire.LeaseKeySize {
		return fmt.Errorf("%w: a lease key is %d bytes, not %d", ErrWrongKey, wire.LeaseKeySize, len(key))
	}
	if !wire.ValidKeyID(keyID) {
		return fmt.Errorf("%w: %q is not a key ID", ErrWrongKey, keyID)
	}
	return nil
}

// payloadOf returns the identities' text, one per line, in locked memory.
func payloadOf(ids []age.Identity) (*secret.Buffer, error) {
	var lines []string
	n := 0
	for _, id := range ids {
		s, err := identityString(id)
		if err != nil {
			return nil, err
		}
		lines = append(lines, s)
		n += len(s) + 1
	}
	b := secret.New(n)
	p := b.Bytes()[:0]
	for _, s := range lines {
		p = append(append(p, s...), '\n')
	}
	return b, nil
}

// mergePayload returns payload with any of ids it lacks appended (older
// than every wrapped one), and whether any was.
func mergePayload(payload []byte, ids []age.Identity) (*secret.Buffer, bool, error) {
	have := strings.Split(strings.TrimSuffix(string(payload), "\n"), "\n")
	var extra []age.Identity
	for _, id := range ids {
		s, err := identityString(id)
		if err != nil {
			return nil, false, err
		}
		if !slices.Contains(have, s) {
			extra = append(extra, id)
		}
	}
	if len(extra) == 0 {
		return secret.From(slices.Clone(payload)), false, nil
	}
	more, err := payloadOf(extra)
	if err != nil {
		return nil, false, err
	}
	defer more.Destroy()
	b := secret.New(len(payload) + len(more.Bytes()))
	copy(b.Bytes(), payload)
	copy(b.Bytes()[len(payload):], more.Bytes())
	return b, true, nil
}

func recipientsOf(ids []age.Identity) ([]string, error) {
	var rs []string
	for _, id := range ids {
		s, err := identityString(id)
		if err != nil {
			return nil, err
		}
		_, r, err := parseIdentity(s)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}
