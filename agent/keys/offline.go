package keys

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/casekeep/casekeep/agent/internal/secret"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
)

// ErrNoOffline is returned (wrapped with [ErrLocked]) by
// [Keyring.UnlockOffline] when no offline copy of the lease is held.
var ErrNoOffline = errors.New("no offline copy of the lease")

// ErrExpired is returned (wrapped with [ErrLocked]) by
// [Keyring.UnlockOffline] when the offline copy's window has passed; the
// copy is destroyed.
var ErrExpired = errors.New("the offline copy of the lease has expired")

// The offline copy's plaintext, as it is handed to a protector:
//
//	"ckoffl01" | u8 len | device ID | u8 len | key ID | i64 until (Unix seconds, big-endian) | lease key
//
// It names the device, so that a copy moved from another laptop's state
// folder is refused, and its expiry, so that a copy read after the window
// is destroyed rather than used.
const (
	offlineMagic = "ckoffl01"
	maxOffline   = 64 << 10 // the largest protected form (a TPM blob, a DPAPI blob) read back
)

// offlineLease is a parsed offline copy. key aliases the parsed bytes.
type offlineLease struct {
	deviceID, keyID string
	until           time.Time
	key             []byte
}

// marshalOffline returns the copy's plaintext, in locked memory.
func marshalOffline(deviceID, keyID string, until time.Time, key []byte) *secret.Buffer {
	n := len(offlineMagic) + 1 + len(deviceID) + 1 + len(keyID) + 8 + len(key)
	b := secret.New(n)
	p := append(b.Bytes()[:0], offlineMagic...)
	p = append(p, byte(len(deviceID)))
	p = append(p, deviceID...)
	p = append(p, byte(len(keyID)))
	p = append(p, keyID...)
	p = binary.BigEndian.AppendUint64(p, uint64(until.Unix()))
	p = append(p, key...)
	if len(p) != n || &p[0] != &b.Bytes()[0] {
		panic("keys: the offline copy outgrew its buffer")
	}
	return b
}

// parseOffline parses an offline copy's plaintext.
func parseOffline(b []byte) (offlineLease, error) {
	bad := func(what string) (offlineLease, error) {
		return offlineLease{}, fmt.Errorf("%w: offline copy: %s", ErrDamaged, what)
	}
	if len(b) < len(offlineMagic) || string(b[:len(offlineMagic)]) != offlineMagic {
		return bad("not a casekeep offline lease (v1)")
	}
	b = b[len(offlineMagic):]
	str := func() (string, bool) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", false
		}
		s := string(b[1 : 1+b[0]])
		b = b[1+b[0]:]
		return s, true
	}
	var l offlineLease
	var ok bool
	if l.deviceID, ok = str(); !ok || !wire.ValidDeviceID(l.deviceID) {
		return bad("bad device ID")
	}
	if l.keyID, ok = str(); !ok || !wire.ValidKeyID(l.keyID) {
		return bad("bad key ID")
	}
	if len(b) != 8+wire.LeaseKeySize {
		return bad("bad length")
	}
	u := int64(binary.BigEndian.Uint64(b))
	if u < 0 || u > 253402300799 { // 9999-12-31T23:59:59Z
		return bad("bad expiry")
	}
	l.until = time.Unix(u, 0).UTC()
	l.key = b[8:]
	return l, nil
}

// A protector holds the offline copy as well as this computer allows.
// Each OS has its list (protectors_*.go), best first; tests use a fake.
type protector interface {
	// kind is wire.OfflineTPM or wire.OfflineOS.
	kind() string
	// save stores blob, replacing any copy this protector held.
	save(blob []byte) error
	// load returns the stored blob, or an error wrapping fs.ErrNotExist.
	load() ([]byte, error)
	// held reports whether a copy is stored (without reading it).
	held() bool
	// remove destroys the copy; removing none is not an error.
	remove() error
}

// fileProtector keeps the copy in a root-only file in the state folder,
// transformed by seal and unseal (the TPM, DPAPI), or as it is when they
// are nil (Linux without a TPM: the file's mode is the only protection).
type fileProtector struct {
	path   string
	k      string
	seal   func(blob []byte) ([]byte, error)
	unseal func(data []byte) ([]byte, error)
}

func (p *fileProtector) kind() string { return p.k }

func (p *fileProtector) save(blob []byte) error {
	data := blob
	if p.seal != nil {
		var err error
		if data, err = p.seal(blob); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(p.path, data, 0o600)
}

func (p *fileProtector) load() ([]byte, error) {
	data, err := readPrivate(p.path, maxOffline)
	if err != nil || p.unseal == nil {
		return data, err
	}
	return p.unseal(data)
}

func (p *fileProtector) held() bool {
	fi, err := os.Lstat(p.path)
	return err == nil && fi.Mode().IsRegular()
}

func (p *fileProtector) remove() error {
	return removeOurs(filepath.Dir(p.path), filepath.Base(p.path))
}

// readPrivate reads a file of the state folder, refusing anything but a
// regular file (a symlink is never followed) and anything larger than max.
func readPrivate(path string, max int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrDamaged, path, max)
	}
	return b, nil
}

// isNotExist reports whether err says a file is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// offlinePrefix begins the names of the offline copy's files in the
// state folder (device-lease.tpm, device-lease.os, device-lease.dpapi).
const offlinePrefix = "device-lease."

// SaveOffline keeps a copy of the lease key in memory until the given
// time (the lease's Until: the server's time plus the policy's offline
// window), protected by the best protector this computer has: sealed to
// the TPM 2.0, else the OS's protection; [Keyring.Offline] says which.
// It needs the lease key in memory (an error wrapping [ErrLocked]).
//
// Call it after every lease the server serves: a renewal that moves until
// by less than ten minutes, for the same key, is skipped (the copy then
// expires a little early, never late). An until that is not in the future
// drops the copy (a window of 0). If no protector can save it, the copy is
// dropped and the error returned; Offline then reports wire.OfflineNone.
func (k *Keyring) SaveOffline(until time.Time) error {
	k.offMu.Lock()
	defer k.offMu.Unlock()
	return k.saveOfflineLocked(until, false)
}

func (k *Keyring) saveOfflineLocked(until time.Time, force bool) error {
	until = time.Unix(until.Unix(), 0).UTC() // what the copy can hold
	k.mu.Lock()
	if err := k.needLease(); err != nil {
		k.mu.Unlock()
		return err
	}
	now := k.now()
	if floor, behind := k.clockLocked(now); behind > 0 {
		k.mu.Unlock()
		k.dropOfflineLocked()
		return fmt.Errorf("keys: no offline copy is kept while %w", clockBehindError(floor, behind))
	}
	if f := k.floorLocked(now); f.After(now) {
		now = f
	}
	if !until.After(now) {
		k.mu.Unlock()
		return k.dropOfflineLocked()
	}
	if !force && k.held != nil && k.heldKeyID == k.keyID && !until.Before(k.until) && until.Sub(k.until) < resealAfter {
		k.mu.Unlock()
		return nil
	}
	keyID := k.keyID
	blob := marshalOffline(k.deviceID, keyID, until, k.lease.Bytes())
	k.mu.Unlock()
	defer blob.Destroy()
	var errs []error
	for _, p := range k.protectors {
		err := p.save(blob.Bytes())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.kind(), err))
			continue
		}
		for _, other := range k.protectors {
			if other != p {
				other.remove() // a weaker copy left over; the next save tries again
			}
		}
		k.mu.Lock()
		k.held, k.until, k.heldKeyID = p, until, keyID
		k.mu.Unlock()
		return nil
	}
	k.dropOfflineLocked()
	if len(errs) == 0 {
		errs = append(errs, errors.New("this system has no protector"))
	}
	return fmt.Errorf("keys: the offline copy could not be saved: %w", errors.Join(errs...))
}

// DropOffline destroys the offline copy wherever it is held (a lock
// command, a window of 0). Dropping none is not an error.
func (k *Keyring) DropOffline() error {
	k.offMu.Lock()
	defer k.offMu.Unlock()
	return k.dropOfflineLocked()
}

func (k *Keyring) dropOfflineLocked() error {
	var errs []error
	for _, p := range k.protectors {
		errs = append(errs, p.remove())
	}
	k.mu.Lock()
	k.held, k.until, k.heldKeyID = nil, time.Time{}, ""
	k.mu.Unlock()
	return errors.Join(errs...)
}

// Offline returns how the offline copy is held (wire.OfflineTPM,
// wire.OfflineOS or wire.OfflineNone) and until when. After a restart
// the time is zero until the copy is read (UnlockOffline) or saved again.
func (k *Keyring) Offline() (kind string, until time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held == nil {
		return wire.OfflineNone, time.Time{}
	}
	return k.held.kind(), k.until
}

// UnlockOffline unlocks the vault from the offline copy, when the server
// cannot be reached: only if the copy is this device's and now is before
// its expiry. An expired copy, another device's, or one that does not
// parse is destroyed. Errors wrap [ErrLocked] (with [ErrNoOffline],
// [ErrExpired], [ErrOtherDevice] or [ErrDamaged]) or come from
// [Keyring.Unlock]. It does nothing if a lease from the server is already
// in memory.
func (k *Keyring) UnlockOffline(now time.Time) error {
	k.offMu.Lock()
	defer k.offMu.Unlock()
	k.mu.Lock()
	p, wiped, unlocked := k.held, k.wiped, k.lease != nil && !k.offline
	floor, behind := k.clockLocked(now)
	k.mu.Unlock()
	switch {
	case wiped:
		return fmt.Errorf("%w: %w", ErrLocked, ErrWiped)
	case unlocked:
		return nil
	case p == nil:
		return fmt.Errorf("%w: %w", ErrLocked, ErrNoOffline)
	case behind > 0:
		// Set back, the clock cannot say whether the window has passed.
		k.dropOfflineLocked()
		return fmt.Errorf("%w: %w", ErrLocked, clockBehindError(floor, behind))
	}
	if floor.After(now) {
		now = floor
	}
	data, err := p.load()
	if isNotExist(err) {
		k.dropOfflineLocked()
		return fmt.Errorf("%w: %w", ErrLocked, ErrNoOffline)
	}
	if err != nil {
		// Perhaps passing (the TPM busy): keep the copy for the next try.
		return fmt.Errorf("%w: reading the offline copy (%s): %w", ErrLocked, p.kind(), err)
	}
	blob := secret.From(data)
	defer blob.Destroy()
	l, err := parseOffline(blob.Bytes())
	switch {
	case err != nil:
		k.dropOfflineLocked()
		return fmt.Errorf("%w: %w", ErrLocked, err)
	case l.deviceID != k.deviceID:
		k.dropOfflineLocked()
		return fmt.Errorf("%w: %w: the offline copy is %s's", ErrLocked, ErrOtherDevice, l.deviceID)
	case !now.Before(l.until):
		k.dropOfflineLocked()
		return fmt.Errorf("%w: %w at %s", ErrLocked, ErrExpired, l.until.Format(time.RFC3339))
	}
	k.mu.Lock()
	err = k.unlockLocked(l.key, l.keyID, true)
	if err == nil {
		k.until, k.heldKeyID = l.until, l.keyID
	}
	k.mu.Unlock()
	if errors.Is(err, ErrWrongKey) {
		// The key of before a rotation: it opens nothing any more.
		k.dropOfflineLocked()
	}
	return err
}

// Expire enforces the offline window: if the offline copy's expiry has
// passed (the server has not renewed the lease for the whole window), it
// destroys the copy and locks the vault, and reports true. Call it
// periodically (every minute, say). With no copy held (a window of 0) it does nothing: the
// caller decides when to lock.
//
// The window is measured against the floor of trusted time as well as
// now (see [Keyring.Clock]): with the local clock behind the floor, a
// copy held is destroyed, and the vault is locked unless its lease key
// came from the server (which the clock does not bear on).
func (k *Keyring) Expire(now time.Time) bool {
	k.offMu.Lock()
	defer k.offMu.Unlock()
	k.mu.Lock()
	k.saveFloorLocked(false) // the floor, advanced by the monotonic clock
	floor, behind := k.clockLocked(now)
	if floor.After(now) {
		now = floor
	}
	passed := k.held != nil && !k.until.IsZero() && !now.Before(k.until)
	clock := behind > 0 && (k.held != nil || k.offline)
	lock := passed || behind > 0 && k.offline
	k.mu.Unlock()
	if !passed && !clock {
		return false
	}
	k.dropOfflineLocked()
	if lock {
		k.Lock()
	}
	return lock
}
