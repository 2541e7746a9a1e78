package agent

// The vault key of an enrolled device
//
// The device identity rests on disk wrapped by a lease key the server
// holds (package keys' Keyring). At start the agent asks the server for
// the lease (within LeaseTimeout, so a laptop on a train starts quickly)
// and unlocks the identity with it; an identity an older agent left in
// plaintext is wrapped then. If the server cannot be reached it unlocks
// from the offline copy of the lease, if one is held and its window has
// not passed; else the vault runs locked: new plaintext is still sealed
// (sealing needs only public keys), nothing can be opened.
//
// After every heartbeat the server acknowledges, the agent asks again: to
// renew the lease (which moves the offline copy's window) while unlocked,
// for the key while locked, so that a device marked found unlocks. A
// refusal locks the vault and drops the offline copy; a rotation's next
// key re-wraps the identity. Every minute the offline window is enforced.
//
// A device the server has never given a lease (the process stopped between
// enrolling and making its identity) asks for one with no key ID: the
// server serves the key it made at enrollment. A lease endpoint that
// answers 404 (a server older than leases, or a proxy in the way) is taken
// as the server unreachable: the offline copy is tried and the lease asked
// for again; it never locks the vault, and never makes a plain identity
// (an identity an older agent left plain stays so, wire.LeasePlaintext,
// until a lease is served).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// Defaults for the vault key.
const (
	// DefaultLeaseTimeout bounds the lease request at start.
	DefaultLeaseTimeout = 5 * time.Second
	// DefaultKeyCheckEvery is how often the offline window is enforced.
	DefaultKeyCheckEvery = time.Minute
	// renewTimeout bounds a lease request after a heartbeat.
	renewTimeout = 30 * time.Second
	// noIdentityRetry is the longest wait between lease requests while the
	// device has no identity yet.
	noIdentityRetry = 5 * time.Minute
)

// keyStatus is the vault key's state as the agent reports it.
type keyStatus struct {
	lease       string // a wire.Lease constant
	why         string // why it is locked, in words
	offline     string // a wire.Offline constant, "" when not enrolled
	until       time.Time
	memLocked   bool
	postQuantum bool
	trusted     time.Time     // the floor of trusted time, zero if unknown
	clockBehind time.Duration // how far the local clock is behind it (0: not)
}

// keyState returns the vault key's state.
func (a *Agent) keyState() keyStatus {
	a.mu.Lock()
	k, why, wiped, file := a.keyring, a.lockedWhy, a.wipe != nil && a.wipe.shredded(), a.file
	if a.pinWhy != "" && why != a.pinWhy {
		// The swapped key matters more than, and outlasts, why no lease came.
		why = strings.TrimSuffix(a.pinWhy+"; "+why, "; ")
	}
	a.mu.Unlock()
	switch {
	case a.cfg.Enrollment == nil:
		s := keyStatus{lease: wire.LeaseNone}
		if file != nil {
			s.postQuantum = file.PostQuantum()
		}
		return s
	case wiped:
		return keyStatus{lease: wire.LeaseWiped, offline: wire.OfflineNone}
	case k == nil:
		if why == "" {
			why = "the vault key is not open yet"
		}
		return keyStatus{lease: wire.LeaseLocked, why: why, offline: wire.OfflineNone}
	}
	s := keyStatus{lease: k.State(), memLocked: k.MemoryLocked(), postQuantum: k.PostQuantum()}
	s.offline, s.until = k.Offline()
	s.trusted, s.clockBehind = k.Clock(time.Now())
	if s.lease == wire.LeaseLocked {
		s.why = why
	}
	return s
}

// device returns what the vault seals with under p: for a device not
// enrolled, the plain identity file (made, or given a new identity of
// the kind p asks for, as needed); for an enrolled one, the keyring, once
// it exists and is of the kind p asks for. It waits (asking the server)
// while it is not, until ctx is done.
func (a *Agent) device(ctx context.Context, p *policy.Policy) (keys.Device, error) {
	pq := p.Vault.PostQuantum()
	if a.cfg.Enrollment == nil {
		f, err := keys.LoadOrCreate(a.cfg.StateDir, pq, time.Now())
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		a.file = f
		a.mu.Unlock()
		return f, nil
	}
	wait := a.leaseTimeout()
	for {
		a.mu.Lock()
		k := a.keyring
		a.mu.Unlock()
		if k == nil {
			a.askLease(ctx, a.leaseTimeout())
			a.mu.Lock()
			k = a.keyring
			a.mu.Unlock()
		}
		if k != nil && !k.RecipientChecked() {
			// Sealing to a recipient read from the state folder but not
			// authenticated could seal to someone else's key.
			a.log.Warn("the device's public key in the state folder is not authenticated yet: waiting for the server's lease before sealing")
		} else if k != nil {
			if k.PostQuantum() == pq {
				return k, nil
			}
			added, err := k.EnsureKind(pq)
			switch {
			case err == nil:
				if added {
					a.log.Info("made a new device identity of the kind the policy asks for", "post_quantum", pq)
				}
				return k, nil
			case !errors.Is(err, keys.ErrLocked):
				return nil, err
			}
			a.log.Warn("the policy asks for another kind of device identity, which needs the vault unlocked: waiting for the server's lease", "post_quantum", pq)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.unlocked:
		case <-time.After(wait):
		}
		wait = min(2*wait, noIdentityRetry)
	}
}

// openKeys opens the keyring of an enrolled device at start, making it
// from the enrollment's first lease if there is none yet, and unlocks it:
// with the server's lease, else the offline copy. It never fails the
// agent: a device it cannot unlock runs locked.
func (a *Agent) openKeys(ctx context.Context) {
	en := a.cfg.Enrollment
	k, err := keys.Open(a.cfg.StateDir, en.DeviceID)
	switch {
	case err == nil:
		a.pin(k)
		a.setKeyring(k)
	case errors.Is(err, keys.ErrNoIdentity) && en.Lease != nil:
		a.createKeyring(en.Lease)
		en.ForgetLease()
		return // unlocked, with the lease just served
	case errors.Is(err, keys.ErrNoIdentity):
		a.log.Warn("this enrolled device has no identity yet: asking the server for its first lease")
		a.setLocked("the device has no identity yet: waiting for the server's first lease")
	default:
		a.log.Error("the device identity cannot be opened", "err", err)
		a.setLocked("the device identity cannot be opened: " + err.Error())
		return
	}
	a.askLease(ctx, a.leaseTimeout())
}

func (a *Agent) leaseTimeout() time.Duration {
	if a.cfg.LeaseTimeout > 0 {
		return a.cfg.LeaseTimeout
	}
	return DefaultLeaseTimeout
}

func (a *Agent) setKeyring(k *keys.Keyring) {
	a.mu.Lock()
	a.keyring = k
	a.mu.Unlock()
}

func (a *Agent) setLocked(why string) {
	a.mu.Lock()
	a.lockedWhy = why
	a.mu.Unlock()
}

// createKeyring makes the device identity, wrapped with the lease g.
func (a *Agent) createKeyring(g *wire.LeaseGrant) {
	if g.Key == nil {
		a.log.Error("the server's first lease carries no key")
		return
	}
	pq := a.Policy().Vault.PostQuantum()
	k, err := keys.Create(a.cfg.StateDir, a.cfg.Enrollment.DeviceID, g.Key, g.KeyID, pq)
	if errors.Is(err, fs.ErrExist) {
		// Made meanwhile (the first lease came twice): open it.
		if k, err = keys.Open(a.cfg.StateDir, a.cfg.Enrollment.DeviceID); err == nil {
			err = k.Unlock(g.Key, g.KeyID)
		}
	}
	if err != nil {
		a.log.Error("could not make the device identity", "err", err)
		a.setLocked("the device identity could not be made: " + err.Error())
		return
	}
	a.pin(k)
	a.log.Info("made the device identity, wrapped with the server's lease", "key_id", g.KeyID, "post_quantum", pq)
	// Its offline copy first: the agent shows the keyring once it is whole.
	a.granted(k, g, time.Now())
	a.setKeyring(k)
	a.keyEvent(wire.EventVaultUnlocked, "the device identity was made, wrapped with a lease the server served")
	a.signalUnlocked()
}

// askLease asks the server for the lease and acts on the answer: the key
// while the vault is not unlocked from the server (locked, from the offline
// copy, not yet wrapped, or no identity yet), else a renewal.
func (a *Agent) askLease(ctx context.Context, timeout time.Duration) {
	if a.reporter == nil {
		return
	}
	a.keyOps.Lock()
	defer a.keyOps.Unlock()
	a.mu.Lock()
	k, wiping := a.keyring, a.wipe != nil
	a.mu.Unlock()
	if wiping {
		return
	}
	want, keyID := wire.WantKey, ""
	if k != nil {
		keyID = k.KeyID()
		if k.State() == wire.LeaseUnlocked {
			want = wire.WantRenew
		}
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	l, err := a.reporter.RequestLease(lctx, want, keyID)
	cancel()
	now := time.Now()
	if err == nil && k != nil {
		a.trust(k, l.ServerTime)
	}
	switch {
	case errors.Is(err, report.ErrNoLeases):
		// 404: a server older than leases, or a proxy in the way. Not a
		// refusal (only a signed reply refuses): the server cannot be
		// reached for the lease now, so try the offline copy, and again.
		a.log.Warn("the server answered 404 Not Found for the lease (an older server, or a proxy?): taken as unreachable, asking again later", "want", want)
		a.unreachable(k, now, err)
	case err != nil:
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("could not ask the server for the lease", "want", want, "err", err)
		a.unreachable(k, now, err)
	case l.Refused != "":
		a.refused(k, l.Refused)
	case k == nil:
		a.createKeyring(l.Grant)
		a.mu.Lock()
		k = a.keyring
		a.mu.Unlock()
		if k != nil {
			a.trust(k, l.ServerTime)
		}
	default:
		a.grant(k, want, l.Grant, now)
	}
	l.Grant.Zero()
}

// grant acts on a lease the server served.
func (a *Agent) grant(k *keys.Keyring, want string, g *wire.LeaseGrant, now time.Time) {
	before := k.State()
	if want == wire.WantKey {
		if g.Key == nil {
			a.log.Error("the server granted the lease without its key")
			return
		}
		if err := k.Unlock(g.Key, g.KeyID); err != nil {
			a.log.Error("the server's lease does not open the device identity", "key_id", g.KeyID, "err", err)
			a.setLocked("the server's lease does not open the device identity: " + err.Error())
			return
		}
		if before == wire.LeasePlaintext {
			a.log.Info("wrapped the plaintext device identity with the server's lease, and removed the plaintext file", "key_id", g.KeyID)
			a.keyEvent(wire.EventVaultIdentityWrapped, "the plaintext device identity of an older agent was wrapped with the lease key "+g.KeyID+" and removed")
		}
	}
	a.granted(k, g, now)
	if before != wire.LeaseUnlocked && before != wire.LeaseOffline {
		a.log.Info("the vault is unlocked, with a lease the server served", "key_id", k.KeyID())
		a.keyEvent(wire.EventVaultUnlocked, "with a lease the server served")
		a.notify("casekeep", "The vault is unlocked: your case files can be opened again.")
		a.signalUnlocked()
	}
}

// granted records a lease served (its window, the offline copy) and
// carries out a rotation it names.
func (a *Agent) granted(k *keys.Keyring, g *wire.LeaseGrant, now time.Time) {
	a.mu.Lock()
	a.lockedWhy, a.pinWhy, a.leaseUntil, a.leaseAt = "", "", g.Until, now
	a.mu.Unlock()
	if n := g.Next; n != nil {
		from := k.KeyID()
		if err := k.Rewrap(n.Key, n.KeyID); err != nil {
			a.log.Error("could not re-wrap the device identity with the server's next lease key", "key_id", n.KeyID, "err", err)
		} else {
			a.log.Info("re-wrapped the device identity with a new lease key", "from", from, "to", n.KeyID)
			a.keyEvent(wire.EventVaultRewrapped, "from lease key "+from+" to "+n.KeyID)
		}
	}
	if err := k.SaveOffline(g.Until); err != nil {
		a.log.Warn("could not keep an offline copy of the lease: the vault opens only while the server answers", "err", err)
	}
	a.statusChanged()
}

// refused locks the vault: the server will not serve the lease.
func (a *Agent) refused(k *keys.Keyring, reason string) {
	why := "the server refuses the lease: " + refusedWords(reason)
	a.mu.Lock()
	same := a.lockedWhy == why
	a.mu.Unlock()
	if k != nil {
		was := k.State()
		k.Lock()
		if err := k.DropOffline(); err != nil {
			a.log.Warn("could not remove the offline copy of the lease", "err", err)
		}
		same = same && was == wire.LeaseLocked
	}
	a.setLocked(why)
	if same {
		return
	}
	a.log.Warn("the vault is locked", "why", why)
	a.keyEvent(wire.EventVaultLocked, why)
	a.notify("casekeep", "The vault is locked: "+why+". New files are still encrypted; contact IT security.")
	a.statusChanged()
}

func refusedWords(reason string) string {
	switch reason {
	case wire.RefusedLost:
		return "the device is marked lost"
	case wire.RefusedLocked:
		return "IT security locked the device"
	case wire.RefusedWiped:
		return "a wipe was requested"
	case wire.RefusedRevoked:
		return "the device's enrollment is revoked"
	}
	return wire.Clean(reason, wire.MaxShortString)
}

// unreachable acts on a lease request that failed: a vault not unlocked
// tries the offline copy.
func (a *Agent) unreachable(k *keys.Keyring, now time.Time, cause error) {
	if k == nil {
		return
	}
	switch k.State() {
	case wire.LeaseUnlocked, wire.LeaseOffline, wire.LeasePlaintext, wire.LeaseWiped:
		return
	}
	err := k.UnlockOffline(now)
	a.checkClock(k, now)
	if err == nil {
		_, until := k.Offline()
		a.mu.Lock()
		a.lockedWhy = ""
		a.mu.Unlock()
		a.log.Info("the server cannot be reached: the vault is unlocked from its offline copy", "until", until)
		a.keyEvent(wire.EventVaultUnlocked, "from the offline copy of the lease (the server could not be reached), until "+until.UTC().Format(time.RFC3339))
		a.signalUnlocked()
		a.statusChanged()
		return
	}
	why := "the server cannot be reached and there is no valid offline copy of the lease"
	switch {
	case errors.Is(err, keys.ErrClockBehind):
		why = "the server cannot be reached and this laptop's clock is behind the server's last signed time, so the offline copy of the lease cannot be trusted: it was destroyed"
	case errors.Is(err, keys.ErrExpired):
		why = "the server cannot be reached and the offline copy of the lease has expired"
	}
	a.mu.Lock()
	same := a.lockedWhy == why
	a.lockedWhy = why
	a.mu.Unlock()
	if !same {
		a.log.Warn("the vault is locked", "why", why, "offline_copy", err, "server", cause)
		a.statusChanged()
	}
}

// checkKey enforces the offline window: past the offline copy's expiry,
// or the lease's when no copy could be kept, without a renewal, the vault
// is locked.
func (a *Agent) checkKey(now time.Time) {
	a.keyOps.Lock()
	defer a.keyOps.Unlock()
	a.mu.Lock()
	k, until, at := a.keyring, a.leaseUntil, a.leaseAt
	a.mu.Unlock()
	if k == nil {
		return
	}
	a.checkClock(k, now)
	why := ""
	_, behind := k.Clock(now)
	if k.Expire(now) {
		why = "the offline window passed without the server renewing the lease"
		if behind > 0 {
			why = "this laptop's clock is behind the server's last signed time, so the offline window cannot be trusted"
		}
	} else if st := k.State(); (st == wire.LeaseUnlocked || st == wire.LeaseOffline) && !until.IsZero() && k.TrustedNow(now).After(until) &&
		now.Sub(at) > 2*a.Policy().Heartbeat.Interval {
		if kind, _ := k.Offline(); kind == wire.OfflineNone {
			k.Lock()
			why = "the lease expired without the server renewing it"
		}
	}
	if why == "" {
		return
	}
	a.setLocked(why)
	a.log.Warn("the vault is locked", "why", why)
	a.keyEvent(wire.EventVaultLocked, why)
	a.notify("casekeep", "The vault is locked: "+why+". Connect to the internet or the council network to unlock it.")
	a.statusChanged()
}

// keyLoop renews the lease when asked (after each acknowledged heartbeat,
// an unlock command) and enforces the offline window, until ctx is done.
func (a *Agent) keyLoop(ctx context.Context) {
	every := a.cfg.KeyCheckEvery
	if every <= 0 {
		every = DefaultKeyCheckEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.renew:
			a.askLease(ctx, renewTimeout)
		case now := <-t.C:
			a.checkKey(now)
		}
	}
}

// askRenew asks keyLoop for a lease request soon, without waiting.
func (a *Agent) askRenew() {
	select {
	case a.renew <- struct{}{}:
	default:
	}
}

// signalUnlocked tells the vault the identity was unlocked: it rescans,
// verifying what it sealed while locked.
func (a *Agent) signalUnlocked() {
	select {
	case a.unlocked <- struct{}{}:
	default:
	}
	if v := a.Vault(); v != nil {
		v.Rescan()
	}
}

// keyEvent queues a vault-key event.
func (a *Agent) keyEvent(typ, detail string) {
	a.event(wire.Event{Time: time.Now().UTC(), Type: typ, Detail: wire.Clean(detail, wire.MaxString)})
	a.notable()
}

// lockNow locks the vault and drops the offline copy (a lock command).
func (a *Agent) lockNow(why string) error {
	a.keyOps.Lock()
	defer a.keyOps.Unlock()
	a.mu.Lock()
	k := a.keyring
	a.lockedWhy = why
	a.mu.Unlock()
	if k == nil {
		return nil
	}
	k.Lock()
	err := k.DropOffline()
	a.log.Warn("the vault is locked", "why", why)
	a.keyEvent(wire.EventVaultLocked, why)
	a.notify("casekeep", "The vault is locked: "+why+". New files are still encrypted; contact IT security.")
	a.statusChanged()
	if err != nil {
		return fmt.Errorf("removing the offline copy of the lease: %w", err)
	}
	return nil
}

// trustTime takes the server's time from a signed, fresh heartbeat reply.
func (a *Agent) trustTime(t time.Time) {
	a.mu.Lock()
	k := a.keyring
	a.mu.Unlock()
	if k != nil {
		a.trust(k, t)
	}
}

// trust raises the floor of trusted time to the server's time t (from a
// signed reply to a fresh request).
func (a *Agent) trust(k *keys.Keyring, t time.Time) {
	if err := k.Trust(t); err != nil {
		a.log.Warn("could not keep the server's time", "err", err)
	}
	a.checkClock(k, time.Now())
}

// checkClock reports a local clock behind the floor of trusted time (set
// back?) once when it is found, and once when it is right again.
func (a *Agent) checkClock(k *keys.Keyring, now time.Time) {
	floor, behind := k.Clock(now)
	a.mu.Lock()
	was := a.clockOff
	a.clockOff = behind
	a.mu.Unlock()
	switch {
	case behind > 0 && was == 0:
		detail := fmt.Sprintf("the local clock (%s) is %s behind the server's last signed time (at least %s): no offline copy of the lease is kept or used until it is right",
			now.UTC().Format(time.RFC3339), behind.Round(time.Second), floor.UTC().Format(time.RFC3339))
		a.log.Warn("the clock is behind the server's time: was it set back?", "behind", behind.Round(time.Second), "trusted", floor.UTC())
		a.keyEvent(wire.EventClockBehind, detail)
		a.statusChanged()
	case behind == 0 && was > 0:
		a.log.Info("the clock is no longer behind the server's time")
		a.statusChanged()
	}
}

// clockCheck is the posture result of the clock against the floor of
// trusted time: none until the server has stated its time.
func (a *Agent) clockCheck() (wire.Check, bool) {
	a.mu.Lock()
	k := a.keyring
	a.mu.Unlock()
	if k == nil {
		return wire.Check{}, false
	}
	now := time.Now()
	floor, behind := k.Clock(now)
	switch {
	case floor.IsZero():
		return wire.Check{}, false
	case behind > 0:
		return wire.Check{Name: ClockCheck, Result: "fail", Evidence: fmt.Sprintf("the local clock is %s behind the server's last signed time: the offline copy of the lease is not kept or used", behind.Round(time.Second))}, true
	}
	return wire.Check{Name: ClockCheck, Result: "pass", Evidence: "the local clock is not behind the server's last signed time"}, true
}

// ClockCheck is the name of the posture check of the clock against the
// server's signed time, in heartbeats.
const ClockCheck = "clock"

// pin checks the keyring's public recipients against their pin (keys'
// SetPinKey): changed by someone else, nothing is sealed to them and the
// vault waits, locked, for the server's lease to authenticate them.
func (a *Agent) pin(k *keys.Keyring) {
	key := keys.PinKeyFrom(a.cfg.SigningKey)
	defer clear(key)
	err := k.SetPinKey(key)
	switch {
	case errors.Is(err, keys.ErrRecipientChanged):
		why := "the device identity's public key in the state folder was changed by someone else than casekeep: nothing is sealed to it until the server's lease authenticates the identity"
		a.log.Error("the device's public recipients are not the ones pinned: not sealing to them", "err", err)
		a.setLocked(why)
		a.mu.Lock()
		a.pinWhy = why
		a.mu.Unlock()
		a.keyEvent(wire.EventVaultRecipientChanged, why)
	case err != nil:
		a.log.Warn("could not check the device's public recipients against their pin", "err", err)
	}
}
