package agent

// The wipe: a crypto-shred the server asks for
//
// A wipe command is carried out in phases, each recorded in the state
// folder's wipe record ([WipeFile]) before the next begins, and the record
// is written before anything is destroyed: if the process is killed at any
// point, the next start finishes the wipe from where the record says, then
// acknowledges it. The phases:
//
//  1. requested: the vault and the watch outside it stop. Plaintext waiting
//     in the cache is sealed first (sealing needs only public keys, so this
//     works while locked, and leaves nothing readable behind), then the
//     sealed files the vault made (those in its index, checked to be the
//     same files; never a file it did not make) are removed, and the index.
//  2. files-removed: the device identity is crypto-shredded (keys'
//     Keyring.Shred and ShredDir: the wrapped identity, a plaintext one,
//     every offline copy of the lease in any form, the temporary files a
//     crash left of them, the keys in memory), even if it does not open;
//     only the keyring's own files, by their exact names.
//  3. keys-shredded: the acknowledgement (done, counting what was removed)
//     is queued, durably, with a wire.EventVaultWiped event.
//  4. ack-queued: the last heartbeat carries them; the agent makes no other
//     and sends until the server has acknowledged it.
//  5. ack-delivered: the spool, the enrollment and the device signing key
//     are removed (by [FinishWipe] if the process is killed meanwhile,
//     since without them the agent cannot start).
//  6. wiped: the record stays, so that `casekeep status` and `casekeep
//     doctor` can say when and by which command the device was wiped, and
//     `casekeep run` started again idles saying so.
//
// The council's escrow keys still open every file sealed before the wipe,
// wherever a copy of it is: nothing is lost to the council.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
)

// WipeFile is the name, in the state folder, of the wipe record.
const WipeFile = "wipe.json"

// The phases of a wipe, in order (see the top of wipe.go).
const (
	WipeRequested = "requested"
	WipeRemoved   = "files-removed"
	WipeShredded  = "keys-shredded"
	WipeAcked     = "ack-queued"
	WipeDelivered = "ack-delivered"
	WipeDone      = "wiped"
)

var wipePhases = []string{WipeRequested, WipeRemoved, WipeShredded, WipeAcked, WipeDelivered, WipeDone}

// How long a wipe tries to seal the plaintext waiting before it goes on;
// how long it waits between attempts at a phase that failed, at most.
const (
	wipeSealFor    = 30 * time.Second
	wipeBackoffMax = 5 * time.Minute
)

// Wipe is the record of a wipe, in [WipeFile].
type Wipe struct {
	Command   string    `json:"command"`   // the wipe command's ID
	DeviceID  string    `json:"device_id"` // the device wiped
	Phase     string    `json:"phase"`     // one of the Wipe phase constants
	Requested time.Time `json:"requested"` // when the agent took the command
	Done      time.Time `json:"done,omitzero"`
	Sealed    int       `json:"sealed"`   // plaintext files sealed first
	Removed   int       `json:"removed"`  // sealed files removed
	Kept      int       `json:"kept"`     // indexed files left: no longer what the vault sealed
	Unsealed  int       `json:"unsealed"` // plaintext files that could not be sealed first
	Unknown   int       `json:"unknown"`  // age files not in the index that the locked vault could not tell as its own
	Problem   string    `json:"problem,omitempty"`
}

// after reports whether the wipe has reached phase.
func (w *Wipe) after(phase string) bool {
	if w == nil {
		return false
	}
	for _, p := range wipePhases {
		if p == phase {
			return true
		}
		if p == w.Phase {
			return false
		}
	}
	return false
}

func (w *Wipe) shredded() bool { return w.after(WipeShredded) }

// Finished reports whether the wipe is done.
func (w *Wipe) Finished() bool { return w != nil && w.Phase == WipeDone }

// ReadWipe reads the wipe record in the state folder stateDir: nil, nil if
// the device has never been asked to wipe.
func ReadWipe(stateDir string) (*Wipe, error) {
	f, err := os.Open(filepath.Join(stateDir, WipeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, err
	}
	var w Wipe
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%s: %w", WipeFile, err)
	}
	known := false
	for _, p := range wipePhases {
		known = known || p == w.Phase
	}
	if !known || w.Command == "" {
		return nil, fmt.Errorf("%s is damaged", WipeFile)
	}
	return &w, nil
}

func saveWipe(stateDir string, w *Wipe) error {
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(stateDir, WipeFile), append(b, '\n'), 0o600)
}

// wipeHook, when a test sets it, is called after each step of a wipe; the
// crash test kills the process there.
var wipeHook func(step string)

func wipeStep(name string) {
	if wipeHook != nil {
		wipeHook(name)
	}
}

// requestWipe takes a wipe command: it writes the wipe record, before
// anything is destroyed, and stops the vault; Run then carries it out.
func (a *Agent) requestWipe(c wire.Command) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wipe != nil {
		return
	}
	w := &Wipe{Command: c.ID, DeviceID: a.cfg.Enrollment.DeviceID, Phase: WipeRequested, Requested: time.Now().UTC()}
	if err := saveWipe(a.cfg.StateDir, w); err != nil {
		a.log.Error("could not record the wipe command: it is not carried out", "id", c.ID, "err", err)
		go a.ack(wire.CommandAck{ID: c.ID, Type: c.Type, Result: wire.AckFailed, Reason: "the wipe could not be recorded: " + err.Error()}, false)
		return
	}
	wipeStep("recorded")
	a.log.Warn("the server asked for this device to be wiped: sealing what waits, then removing the sealed files and shredding the device identity", "id", c.ID)
	a.wipe = w
	if a.stopPolicy != nil {
		a.stopPolicy()
	}
}

// wiping returns the wipe under way or done, if any.
func (a *Agent) wiping() *Wipe {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.wipe
}

// runWipe carries out the wipe from the phase its record is at until it
// is done, retrying a phase that fails, or until ctx is done.
func (a *Agent) runWipe(ctx context.Context) error {
	backoff := time.Second
	for {
		a.mu.Lock()
		w := *a.wipe
		a.mu.Unlock()
		if w.Finished() {
			return nil
		}
		err := a.wipeNext(ctx, &w)
		if err == nil {
			if err = saveWipe(a.cfg.StateDir, &w); err == nil {
				a.mu.Lock()
				a.wipe = &w
				a.mu.Unlock()
				wipeStep(w.Phase)
				a.statusChanged()
				backoff = time.Second
				continue
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Error("the wipe could not go on; will retry", "phase", w.Phase, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, wipeBackoffMax)
	}
}

// wipeNext carries out the phase after w's and records it in w.
func (a *Agent) wipeNext(ctx context.Context, w *Wipe) error {
	switch w.Phase {
	case WipeRequested:
		if err := a.wipeFiles(ctx, w); err != nil {
			return err
		}
		w.Phase = WipeRemoved
	case WipeRemoved:
		k, err := a.wipeKeyring()
		if err != nil {
			// It does not open (damaged?): its files go all the same.
			a.log.Warn("the device identity does not open: shredding its files", "err", err)
		}
		if k != nil {
			if err := k.Shred(); err != nil {
				return fmt.Errorf("shredding the device identity: %w", err)
			}
		}
		// Whatever else of the keyring's is there (every form of the
		// offline copy, temporary files a crash left), with or without
		// an identity.
		if err := keys.ShredDir(a.cfg.StateDir, a.cfg.Enrollment.DeviceID); err != nil {
			return fmt.Errorf("shredding the device identity's files: %w", err)
		}
		a.log.Warn("the device identity is shredded")
		w.Phase = WipeShredded
	case WipeShredded:
		detail := wipeSummary(w)
		a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventVaultWiped, Detail: wire.Clean(detail, wire.MaxString)})
		a.ack(wire.CommandAck{ID: w.Command, Type: wire.CommandWipe, Result: wire.AckDone, Reason: detail}, true)
		w.Phase = WipeAcked
	case WipeAcked:
		if err := a.reporter.Final(ctx); err != nil {
			return fmt.Errorf("sending the wipe's acknowledgement: %w", err)
		}
		a.log.Warn("the server has the wipe's acknowledgement")
		w.Phase = WipeDelivered
	case WipeDelivered:
		if err := a.reporter.Forget(); err != nil {
			return err
		}
		if err := forgetDevice(a.cfg.StateDir, a.store); err != nil {
			return err
		}
		clear(a.cfg.SigningKey)
		w.Phase, w.Done = WipeDone, time.Now().UTC()
		a.log.Warn("this device is wiped: casekeep does nothing more here until it is enrolled again", "command", w.Command)
	}
	return nil
}

// forgetDevice removes what a wiped device keeps of its enrollment once
// the server has its last heartbeat: the spool, the commands carried out,
// the enrollment and then the signing key.
func forgetDevice(stateDir string, st *state.Store) error {
	if err := report.Forget(st); err != nil {
		return err
	}
	if err := st.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(commandsBucket); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	wipeStep("forgot-spool")
	for _, name := range []string{report.EnrollmentFile, report.SigningKeyFile} {
		if err := atomicfile.Remove(filepath.Join(stateDir, name)); err != nil {
			return err
		}
		wipeStep("removed-" + name)
	}
	return nil
}

// FinishWipe finishes, in the state folder stateDir, a wipe the server has
// acknowledged but that was interrupted before it was done (the process
// killed while it removed the enrollment and the signing key), and returns
// the wipe record: nil if the device was never asked to wipe, Finished if
// it is wiped. Call it before loading the enrollment (the service's start
// does): a wipe at an earlier phase is finished by [Agent.Run].
func FinishWipe(stateDir string) (*Wipe, error) {
	w, err := ReadWipe(stateDir)
	if err != nil || w == nil || w.Phase != WipeDelivered {
		return w, err
	}
	if err := forgetDevice(stateDir, state.OpenStore(stateDir, 10*time.Second)); err != nil {
		return w, err
	}
	w.Phase, w.Done = WipeDone, time.Now().UTC()
	return w, saveWipe(stateDir, w)
}

// wipeSummary says what the wipe removed, for its acknowledgement.
func wipeSummary(w *Wipe) string {
	s := fmt.Sprintf("removed %d sealed file(s) and shredded the device identity and every copy of the lease", w.Removed)
	if w.Sealed > 0 {
		s = fmt.Sprintf("sealed %d plaintext file(s) first, then ", w.Sealed) + s
	}
	if w.Kept > 0 {
		s += fmt.Sprintf("; %d indexed file(s) were left: changed since the vault sealed them", w.Kept)
	}
	if w.Unsealed > 0 {
		s += fmt.Sprintf("; %d plaintext file(s) could not be sealed first and were left", w.Unsealed)
	}
	if w.Unknown > 0 {
		s += fmt.Sprintf("; %d age file(s) the locked vault could not tell as its own were left, encrypted", w.Unknown)
	}
	if w.Problem != "" {
		s += "; " + w.Problem
	}
	return s
}

// wipeKeyring returns the device's keyring for the wipe (nil if it has
// none, or it is shredded already).
func (a *Agent) wipeKeyring() (*keys.Keyring, error) {
	a.mu.Lock()
	k := a.keyring
	a.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := keys.Open(a.cfg.StateDir, a.cfg.Enrollment.DeviceID)
	switch {
	case errors.Is(err, keys.ErrNoIdentity), errors.Is(err, keys.ErrWiped):
		return nil, nil
	case err != nil:
		return nil, err
	}
	a.pin(k)
	a.setKeyring(k)
	return k, nil
}

// wipeFiles seals the plaintext waiting in the cache, then removes the
// sealed files the vault made, and counts both in w.
func (a *Agent) wipeFiles(ctx context.Context, w *Wipe) error {
	k, err := a.wipeKeyring()
	if err != nil {
		// Without its public keys nothing waiting can be sealed, nor a
		// sealed file told as the vault's: the identity is shredded all
		// the same.
		w.Problem = "the device identity does not open, so the cache was left as it is: " + err.Error()
		a.log.Error("the wipe cannot open the device identity: the cache is left as it is", "err", err)
		return nil
	}
	if k == nil {
		return nil // no identity: the vault never sealed anything
	}
	a.wipeUnlock(ctx, k)
	p := a.Policy()
	cache := a.cfg.CacheDir
	if cache == "" {
		if cache, err = CacheDir(p); err != nil {
			w.Problem = "the cache folder is not known: " + err.Error()
			return nil
		}
	}
	if _, err := os.Lstat(cache); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	v, err := vault.Open(vault.Config{
		Dir: cache, Device: k, Escrow: p.Vault.EscrowRecipients, CaseRef: p.Vault.CaseRef,
		Store: a.store, Events: &eventSink{a: a}, Logger: a.log, Quiet: p.Vault.Debounce.Quiet,
	})
	if err != nil {
		w.Problem = "the cache could not be opened: " + err.Error()
		a.log.Error("the wipe cannot open the cache: its sealed files stay (the identity is shredded all the same)", "err", err)
		return nil
	}
	defer v.Close()
	w.Sealed, w.Unsealed, w.Unknown = a.sealWaiting(ctx, v)
	wipeStep("sealed-waiting")
	rm, err := v.RemoveSealed(ctx)
	if err != nil {
		return fmt.Errorf("removing the sealed files: %w", err)
	}
	w.Removed, w.Kept = rm.Removed, rm.Kept
	a.log.Warn("removed the sealed files", "removed", rm.Removed, "kept", rm.Kept)
	return nil
}

// wipeUnlock asks the server, once, for the lease of a locked identity:
// with it, sealed files the index does not know (a crash between sealing
// and indexing) can be told as the vault's and removed too. The server
// normally refuses, a wipe being pending; the wipe goes on either way.
func (a *Agent) wipeUnlock(ctx context.Context, k *keys.Keyring) {
	if k.State() != wire.LeaseLocked {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, a.leaseTimeout())
	l, err := a.reporter.RequestLease(lctx, wire.WantKey, k.KeyID())
	cancel()
	defer l.Grant.Zero()
	if err != nil || l.Grant == nil || l.Grant.Key == nil {
		return
	}
	if err := k.Unlock(l.Grant.Key, l.Grant.KeyID); err != nil {
		a.log.Warn("the lease the server served during the wipe does not open the identity", "err", err)
	}
}

// sealWaiting seals the plaintext in the cache, trying for wipeSealFor
// while some is still being written, and returns how many files it sealed,
// how many were left, and how many age files the locked vault could not
// tell as its own.
func (a *Agent) sealWaiting(ctx context.Context, v *vault.Vault) (sealed, left, unknown int) {
	deadline := time.Now().Add(wipeSealFor)
	for {
		rep, err := v.Scan(ctx)
		if err != nil {
			a.log.Error("the wipe's scan of the cache failed", "err", err)
			return sealed, 0, 0
		}
		left, unknown = 0, rep.Locked
		for _, p := range rep.Plaintext {
			_, err := v.SealFile(ctx, p)
			switch {
			case err == nil:
				sealed++
			case errors.Is(err, fs.ErrNotExist), errors.Is(err, vault.ErrRefused), errors.Is(err, keys.ErrLocked):
				// Sealed, gone, not a plain file, or an age file the locked
				// vault cannot check (not plaintext).
			default:
				left++
			}
		}
		if left == 0 || ctx.Err() != nil || time.Now().After(deadline) {
			if left > 0 {
				a.log.Error("the wipe could not seal every plaintext file first: they are left", "files", left)
			}
			return sealed, left, unknown
		}
		time.Sleep(200 * time.Millisecond)
	}
}
