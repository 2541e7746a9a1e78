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
//     in the cache is sealed (sealing needs only public keys, so this works
//     while locked, and leaves nothing readable behind): to the device and
//     the escrow keys, or to the escrow keys alone if the device identity
//     does not open or its public key is not authenticated by the pin.
//  2. waiting-sealed: the device identity is crypto-shredded (keys'
//     Keyring.Shred and ShredDir: the wrapped identity, a plaintext one,
//     every offline copy of the lease in any form, overwritten before it
//     is removed, the temporary files a crash left of them, the keys in
//     memory), even if it does not open; only the keyring's own files, by
//     their exact names. The keys go before the sealed files, so that a
//     file that cannot be removed never keeps them: once they are
//     shredded, every sealed file opens with the escrow keys alone.
//  3. keys-shredded: the sealed files the vault made (those in its index,
//     checked to be the same files; never a file it did not make) are
//     removed, best-effort: one that cannot be removed is counted and
//     left (it opens with the escrow keys only); then the index.
//  4. sealed-removed: the acknowledgement is queued, durably, with a
//     wire.EventVaultWiped event: done, counting what was removed, or
//     failed, saying how many files of which kind were left and why, if
//     any plaintext or sealed file is left. The phase is retried until the
//     acknowledgement is queued or in the report spool.
//  5. ack-queued: the last heartbeat carries them; the agent makes no other
//     and sends until the server has acknowledged it.
//  6. ack-delivered: the spool, the enrollment and the device signing key
//     are removed (by [FinishWipe] if the process is killed meanwhile,
//     since without them the agent cannot start).
//  7. wiped: the record stays, so that `casekeep status` and `casekeep
//     doctor` can say when and by which command the device was wiped, and
//     `casekeep run` started again idles saying so.
//
// A record at files-removed, left by an older agent that removed the
// sealed files before shredding the keys, goes on with the shredding.
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
	"strings"
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
	WipeSealed    = "waiting-sealed"
	WipeShredded  = "keys-shredded"
	WipeRemoved   = "sealed-removed"
	WipeAcked     = "ack-queued"
	WipeDelivered = "ack-delivered"
	WipeDone      = "wiped"
)

// wipeRemovedOld is the phase after requested of an older agent, which
// removed the sealed files before it shredded the keys: the keys are
// shredded next, then the acknowledgement.
const wipeRemovedOld = "files-removed"

var wipePhases = []string{WipeRequested, WipeSealed, wipeRemovedOld, WipeShredded, WipeRemoved, WipeAcked, WipeDelivered, WipeDone}

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
	// Sealed files the vault made that could not be removed, why (no
	// names), and the case references of their folders.
	Failed      int      `json:"failed,omitempty"`
	FailedWhy   []string `json:"failed_why,omitempty"`
	FailedCases []string `json:"failed_cases,omitempty"`
	Refused     int      `json:"refused,omitempty"`     // paths the vault refuses (hard-linked files, links, ...): left as they are
	Skipped     int      `json:"skipped,omitempty"`     // editor lock and folder metadata files the vault leaves alone: left
	EscrowOnly  bool     `json:"escrow_only,omitempty"` // what waited was sealed to the escrow keys alone
	Note        string   `json:"note,omitempty"`        // why, if so
	Problem     string   `json:"problem,omitempty"`
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
	a.log.Warn("the server asked for this device to be wiped: sealing what waits, then shredding the device identity and removing the sealed files", "id", c.ID)
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
		if err := a.wipeSeal(ctx, w); err != nil {
			return err
		}
		w.Phase = WipeSealed
	case WipeSealed, wipeRemovedOld:
		if err := a.wipeShred(); err != nil {
			return err
		}
		if w.Phase == wipeRemovedOld {
			w.Phase = WipeRemoved // its files were removed before
		} else {
			w.Phase = WipeShredded
		}
	case WipeShredded:
		if err := a.wipeRemove(ctx, w); err != nil {
			return err
		}
		w.Phase = WipeRemoved
	case WipeRemoved:
		detail := wipeSummary(w)
		result := wire.AckDone
		if w.left() {
			result = wire.AckFailed
		}
		ack := wire.CommandAck{ID: w.Command, Type: wire.CommandWipe, Result: result, Reason: detail}
		// No heartbeat but Final's from here: the ack and the event go in
		// the last one, not in one a settling burst makes before it.
		a.reporter.HoldForFinal()
		// The event first: the heartbeat that carries the ack carries the
		// events waiting.
		if !a.wipeEvent {
			a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventVaultWiped, Detail: wire.Clean(detail, wire.MaxString)})
			a.wipeEvent = true
		}
		if err := a.queueAck(ack, true); err != nil {
			return fmt.Errorf("queueing the wipe's acknowledgement: %w", err)
		}
		// Final sends only what is queued or spooled: make sure it is
		// there before going on (else the server would never hear of it).
		switch ok, err := a.reporter.AckPending(w.Command); {
		case err != nil:
			return fmt.Errorf("checking the wipe's acknowledgement is queued: %w", err)
		case !ok:
			return errors.New("the wipe's acknowledgement is neither queued nor in the spool")
		}
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

// wipeShred crypto-shreds the device identity: the keyring's files and
// the keys in memory, whether or not it opens.
func (a *Agent) wipeShred() error {
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
	// Whatever else of the keyring's is there (every form of the offline
	// copy, temporary files a crash left), with or without an identity.
	if err := keys.ShredDir(a.cfg.StateDir, a.cfg.Enrollment.DeviceID); err != nil {
		return fmt.Errorf("shredding the device identity's files: %w", err)
	}
	a.log.Warn("the device identity is shredded")
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

// left reports whether the wipe left any plaintext or sealed file behind.
func (w *Wipe) left() bool {
	return w.Kept+w.Failed+w.Unsealed+w.Unknown+w.Refused > 0 || w.Problem != ""
}

// wipeSummary says what the wipe did and left, for its acknowledgement:
// counts, the errors' texts and case references, never a file's name.
func wipeSummary(w *Wipe) string {
	s := fmt.Sprintf("shredded the device identity and every copy of the lease, then removed %d sealed file(s)", w.Removed)
	if w.Sealed > 0 {
		to := ""
		if w.EscrowOnly {
			to = " to the escrow keys alone"
		}
		s = fmt.Sprintf("sealed %d plaintext file(s)%s first, then ", w.Sealed, to) + s
	}
	if w.Failed > 0 {
		s += fmt.Sprintf("; %d sealed file(s) could not be removed and were left, encrypted (the escrow keys alone open them)", w.Failed)
		if len(w.FailedCases) > 0 {
			s += " in " + strings.Join(w.FailedCases, ", ")
		}
		if len(w.FailedWhy) > 0 {
			s += ": " + strings.Join(w.FailedWhy, "; ")
		}
	}
	if w.Kept > 0 {
		s += fmt.Sprintf("; %d indexed file(s) were left: changed since the vault sealed them", w.Kept)
	}
	if w.Unsealed > 0 {
		s += fmt.Sprintf("; %d plaintext file(s) could not be sealed first and were left", w.Unsealed)
	}
	if w.Refused > 0 {
		s += fmt.Sprintf("; %d path(s) the vault refuses (hard-linked files, links, other than plain files) were left as they are, not sealed", w.Refused)
	}
	if w.Skipped > 0 {
		s += fmt.Sprintf("; %d editor lock or folder metadata file(s) (desktop.ini, .DS_Store, ~$ and .~lock files) were left as they are, not sealed", w.Skipped)
	}
	if w.Unknown > 0 {
		s += fmt.Sprintf("; %d age file(s) the locked vault could not tell as its own were left, encrypted", w.Unknown)
	}
	if w.Note != "" {
		s += "; " + w.Note
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

// wipeVault opens the cache for the wipe, sealing to the device k and the
// escrow keys, or to the escrow keys alone if k is nil; nil if there is
// no cache.
func (a *Agent) wipeVault(k *keys.Keyring) (*vault.Vault, error) {
	p := a.Policy()
	cache := a.cfg.CacheDir
	if cache == "" {
		var err error
		if cache, err = CacheDir(p); err != nil {
			return nil, fmt.Errorf("the cache folder is not known: %w", err)
		}
	}
	if _, err := os.Lstat(cache); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cfg := vault.Config{
		Dir: cache, Escrow: p.Vault.EscrowRecipients, CaseRef: p.Vault.CaseRef,
		Store: a.store, Events: &eventSink{a: a}, Logger: a.log, Quiet: p.Vault.Debounce.Quiet,
	}
	if k != nil {
		cfg.Device = k
	} else {
		cfg.EscrowOnly = true
	}
	v, err := vault.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("the cache could not be opened: %w", err)
	}
	return v, nil
}

// wipeSeal seals the plaintext waiting in the cache, and counts in w what
// it sealed and what it left.
func (a *Agent) wipeSeal(ctx context.Context, w *Wipe) error {
	w.Note = ""
	k, err := a.wipeKeyring()
	switch {
	case err != nil:
		// Its public key cannot be read: what waits is sealed to the
		// escrow keys alone, and the identity shredded all the same.
		a.log.Error("the wipe cannot open the device identity: sealing what waits to the escrow keys alone", "err", err)
		w.Note = "the device identity does not open (" + err.Error() + "), so what waited was sealed to the escrow keys alone"
		k = nil
	case k != nil:
		a.wipeUnlock(ctx, k)
		if !k.RecipientChecked() {
			// Not authenticated (the state folder changed?): it could be
			// someone else's public key.
			a.log.Warn("the device's public key is not authenticated by its pin: the wipe seals what waits to the escrow keys alone")
			w.Note = "the device's public key is not authenticated by its pin, so what waited was sealed to the escrow keys alone"
			k = nil
		}
	}
	w.EscrowOnly = k == nil
	w.Problem = ""
	v, err := a.wipeVault(k)
	if err != nil {
		w.Problem = err.Error()
		a.log.Error("the wipe cannot open the cache: what waits there stays as it is (the identity is shredded all the same)", "err", err)
		return nil
	}
	if v == nil {
		return nil
	}
	defer v.Close()
	a.sealWaiting(ctx, v, w)
	wipeStep("sealed-waiting")
	return nil
}

// wipeRemove removes the sealed files the vault made, best-effort, and
// counts them in w. The identity is shredded by now: the vault seals to
// the escrow keys alone, and opens nothing.
func (a *Agent) wipeRemove(ctx context.Context, w *Wipe) error {
	v, err := a.wipeVault(nil)
	if err != nil {
		if w.Problem == "" {
			w.Problem = err.Error()
		}
		a.log.Error("the wipe cannot open the cache: its sealed files stay (the escrow keys alone open them)", "err", err)
		return nil
	}
	if v == nil {
		return nil
	}
	defer v.Close()
	rm, err := v.RemoveSealed(ctx)
	if err != nil {
		return fmt.Errorf("removing the sealed files: %w", err)
	}
	// A record at keys-shredded from an older agent has removed them
	// already (and the index): keep its counts.
	if rm.Removed+rm.Kept+rm.Failed > 0 {
		w.Removed, w.Kept, w.Failed, w.FailedWhy, w.FailedCases = rm.Removed, rm.Kept, rm.Failed, rm.Why, rm.Cases
	}
	a.log.Warn("removed the sealed files", "removed", rm.Removed, "kept", rm.Kept, "failed", rm.Failed)
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
// while some is still being written, and counts in w how many files it
// sealed, how many plaintext files were left, how many paths the vault
// refuses or skips (left as they are), and how many age files the locked
// vault could not tell as its own.
func (a *Agent) sealWaiting(ctx context.Context, v *vault.Vault, w *Wipe) {
	deadline := time.Now().Add(wipeSealFor)
	sealed := 0
	for {
		rep, err := v.Scan(ctx)
		if err != nil {
			a.log.Error("the wipe's scan of the cache failed", "err", err)
			w.Sealed, w.Problem = sealed, "the scan of the cache failed, so plaintext may be left: "+err.Error()
			return
		}
		left := 0
		for _, p := range rep.Plaintext {
			_, err := v.SealFile(ctx, p)
			switch {
			case err == nil:
				sealed++
			case errors.Is(err, fs.ErrNotExist), errors.Is(err, vault.ErrRefused), errors.Is(err, keys.ErrLocked):
				// Sealed, gone, not a plain file (counted by the next
				// scan), or an age file the locked vault cannot check
				// (not plaintext).
			default:
				left++
			}
		}
		if left == 0 || ctx.Err() != nil || time.Now().After(deadline) {
			// A last look, for what is left as it is.
			if last, err := v.Scan(ctx); err == nil {
				rep = last
			}
			w.Sealed, w.Unsealed, w.Unknown, w.Refused, w.Skipped = sealed, left, rep.Locked, rep.Refused, rep.Skipped
			if left > 0 {
				a.log.Error("the wipe could not seal every plaintext file first: they are left", "files", left)
			}
			if rep.Refused+rep.Skipped > 0 {
				a.log.Error("the wipe leaves files the vault refuses or skips as they are", "refused", rep.Refused, "skipped", rep.Skipped)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
