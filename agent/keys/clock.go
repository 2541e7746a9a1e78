package keys

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// The offline window is measured against a floor of trusted time, not the
// local clock alone: someone with the laptop could otherwise set the clock
// back and keep the offline copy valid for ever. The floor is the latest
// time the server stated in a signed reply that answered a fresh request
// ([Keyring.Trust]), advanced while the process runs by the monotonic
// clock (which the wall clock's setting does not move, and which stands
// still while the laptop sleeps: the floor lags real time, never leads
// it). It is kept in [ClockFloorName], so that a restart does not forget
// it. A local clock more than [ClockSlack] before the floor is behind: no
// offline copy is kept, used or trusted while it is, and a vault open
// from one is locked ([Keyring.Expire]).

// ClockFloorName is the name, in the state folder, of the file that keeps
// the floor of trusted time. It holds no key material.
const ClockFloorName = "trusted-time.txt"

// ClockSlack is how far the local clock may lag the floor of trusted time
// (the server's clock drifting from this laptop's, a slow network) before
// it counts as set back.
const ClockSlack = 5 * time.Minute

// floorSaveEvery is how far the floor must move before it is written
// again: losing less than this to a crash only lets a clock set back by
// that much go unnoticed.
const floorSaveEvery = 10 * time.Minute

// ErrClockBehind is returned (wrapped with [ErrLocked] and [ErrExpired])
// when the local clock is before the floor of trusted time: the offline
// copy cannot be trusted to be within its window, and is destroyed.
var ErrClockBehind = errors.New("the local clock is behind the server's last signed time")

const floorMagic = "casekeep trusted time floor v1\n"

// loadFloor reads the floor kept in the state folder (zero if none, or
// if it does not parse: the next signed reply sets it again).
func (k *Keyring) loadFloor() {
	b, err := readPrivate(filepath.Join(k.dir, ClockFloorName), 1<<10)
	if err != nil {
		return
	}
	s, ok := strings.CutPrefix(string(b), floorMagic)
	if !ok {
		return
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil || t.Year() < 2000 || t.Year() > 9999 {
		return
	}
	k.floor, k.floorAt, k.floorSaved = t.UTC(), k.now(), t.UTC()
}

// Trust records serverTime, the server's clock in a signed reply to a
// request this process just made (so not a replay): it becomes the floor
// of trusted time, and is kept in the state folder. Call it with every
// such reply (lease replies, heartbeat replies that echo their nonce).
func (k *Keyring) Trust(serverTime time.Time) error {
	if y := serverTime.UTC().Year(); y < 2000 || y > 9999 {
		return fmt.Errorf("keys: %v is not a plausible server time", serverTime)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.wiped {
		return nil
	}
	// The server's word replaces the floor, even if earlier: a floor
	// kept from before (a damaged file, a server clock that was wrong)
	// must not lock the offline copy out for ever.
	k.floor, k.floorAt = serverTime.UTC(), k.now()
	return k.saveFloorLocked(false)
}

// floorLocked returns the floor of trusted time at now (local, with its
// monotonic reading when it has one): zero if the server never stated
// its time.
func (k *Keyring) floorLocked(now time.Time) time.Time {
	if k.floor.IsZero() {
		return time.Time{}
	}
	elapsed := now.Sub(k.floorAt) // monotonic when both readings have it
	if elapsed < 0 {
		elapsed = 0
	}
	return k.floor.Add(elapsed)
}

// saveFloorLocked keeps the floor in the state folder, if it moved by
// floorSaveEvery (or at all, when it moved back: force).
func (k *Keyring) saveFloorLocked(force bool) error {
	f := k.floorLocked(k.now()).Truncate(time.Second)
	if f.IsZero() {
		return nil
	}
	// Forward, only every floorSaveEvery (it is written every minute
	// otherwise); back (a server whose clock was wrong before), at once.
	if d := f.Sub(k.floorSaved); !force && d > -time.Minute && d < floorSaveEvery {
		return nil
	}
	data := floorMagic + f.Format(time.RFC3339) + "\n"
	if err := atomicfile.WriteFile(filepath.Join(k.dir, ClockFloorName), []byte(data), 0o600); err != nil {
		return fmt.Errorf("keeping the floor of trusted time: %w", err)
	}
	k.floorSaved = f
	return nil
}

// Clock returns the floor of trusted time at now (zero if the server never
// stated its time) and how far the local clock now is behind it (zero if
// it is not, or by no more than [ClockSlack]).
func (k *Keyring) Clock(now time.Time) (floor time.Time, behind time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.clockLocked(now)
}

func (k *Keyring) clockLocked(now time.Time) (floor time.Time, behind time.Duration) {
	floor = k.floorLocked(now)
	if floor.IsZero() {
		return floor, 0
	}
	if d := floor.Sub(now); d > ClockSlack {
		return floor, d
	}
	return floor, 0
}

// TrustedNow returns the later of now and the floor of trusted time: the
// time to measure a window against.
func (k *Keyring) TrustedNow(now time.Time) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f := k.floorLocked(now); f.After(now) {
		return f
	}
	return now
}

func clockBehindError(floor time.Time, behind time.Duration) error {
	return fmt.Errorf("%w: %w (by %s; the server's time was at least %s)", ErrExpired, ErrClockBehind,
		behind.Round(time.Second), floor.UTC().Format(time.RFC3339))
}
