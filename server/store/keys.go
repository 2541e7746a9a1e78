package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// What a lease request is (LeaseRequest.Kind, LeaseRecord.Kind).
const (
	LeaseKindEnroll = "enroll"       // the first lease, served with the enrollment reply
	LeaseKindKey    = wire.WantKey   // the agent asked for the key, to unlock its vault
	LeaseKindRenew  = wire.WantRenew // the agent asked to extend its offline window only
)

// LeaseRequest is a request for a device's lease, as the server received
// it and verified its signature.
type LeaseRequest struct {
	DeviceID string
	// Kind is LeaseKindEnroll, LeaseKindKey or LeaseKindRenew.
	Kind string
	// KeyID is the lease key the agent's wrapped identity needs; "" if
	// it has none yet.
	KeyID string
	// At is the server's time of serving; Until is At plus Window.
	At time.Time
	// Window is the policy's offline window (offline.unlock_window).
	Window time.Duration
	// Source is the address the request came from: the TCP peer
	// (http.Request.RemoteAddr), so a reverse proxy's address when the
	// server is behind one.
	Source string
	// Nonce is the request's ("" at enrollment): a device's nonce is
	// accepted once.
	Nonce string
	// AgentTime is the time the agent claims it made the request (zero
	// at enrollment).
	AgentTime time.Time
}

// LeaseOutcome says what ServeLeases did with a request.
type LeaseOutcome int

const (
	LeaseServed  LeaseOutcome = iota // served, and logged
	LeaseRefused                     // refused, and logged with the reason (folded into the run it repeats)
	LeaseReplay                      // not served nor logged: the device's nonce was seen before
	LeaseUnknown                     // not served nor logged: no such device
	// LeaseFailed: not served nor logged (its nonce not recorded): the
	// device's stored lease key could not be opened (a damaged row, or
	// another key-encryption key); Err says why. The other requests in
	// the batch stand.
	LeaseFailed
)

func (o LeaseOutcome) String() string {
	return [...]string{"served", "refused", "replay", "unknown device", "failed"}[o]
}

// LeaseRecord is one entry of the lease log: a lease served, or a run of
// identical refusals (the same reason, kind of request and key asked
// for, from the same host, with nothing else logged for the device in
// between), folded into one entry so that a device asking every second
// does not flood the log.
type LeaseRecord struct {
	ID       int64 // assigned by the store, increasing
	DeviceID string
	At       time.Time // the server's time; of a run of refusals, the first
	// LastAt is the time of the run's last refusal; At for a lease
	// served.
	LastAt time.Time
	// Requests is how many requests the entry is: 1 for a lease served,
	// the run's length for refusals.
	Requests int64
	// Source is the address the (first) request came from: the TCP peer,
	// so a reverse proxy's address when the server is behind one.
	Source string
	Kind   string // LeaseKindEnroll, LeaseKindKey or LeaseKindRenew
	// KeyID is the lease key served, or, for a refusal, the one asked for.
	KeyID string
	// NextKeyID is the replacement key sent with the lease during a
	// rotation; "" if none.
	NextKeyID string
	// Until is how long the agent may use its local copy without hearing
	// from the server again: At plus Window. Zero for a refusal.
	Until  time.Time
	Window time.Duration
	// Nonce and AgentTime are the (first) request's; AgentTime is the
	// agent's claim.
	Nonce     string
	AgentTime time.Time
	// Refused is why the lease was refused (wire.RefusedLost,
	// wire.RefusedLocked, wire.RefusedWiped or wire.RefusedRevoked); ""
	// for a lease served.
	Refused string
}

// Served reports whether the record is of a lease served.
func (r LeaseRecord) Served() bool { return r.Refused == "" && !r.At.IsZero() }

// LeaseEvidence is what a device's whole lease log says around a time T
// (the loss): the lost-device assessment states it.
type LeaseEvidence struct {
	// Before is the last lease served at or before T (a zero At: none),
	// with until when its offline copy could be used (Until) and the
	// window it was served with.
	Before LeaseRecord
	// ServedAfter counts the leases served after T; KeysAfter those of
	// them that carried the key itself (not a renewal).
	ServedAfter, KeysAfter int64
	// FirstAfter and LastAfter are the first and the last lease served
	// after T (a zero At: none), with their times and source addresses;
	// UntilAfter is the latest Until of the leases served after T.
	FirstAfter, LastAfter LeaseRecord
	UntilAfter            time.Time
	// RefusedAfter counts the lease requests refused after T, by reason
	// (wire.RefusedLost, ...), from the runs of refusals that went on
	// after T; FirstRefused is the first of those runs (a zero At: none).
	// A run that began at or before T counts once (its last request was
	// after T; how many more were is not known): RefusedAtLeast says the
	// counts are then lower bounds.
	RefusedAfter   map[string]int64
	FirstRefused   LeaseRecord
	RefusedAtLeast bool
}

// Refusals is how many lease requests were refused after T, of every
// reason.
func (e LeaseEvidence) Refusals() int64 {
	var n int64
	for _, c := range e.RefusedAfter {
		n += c
	}
	return n
}

// LeaseResult is ServeLeases' answer to one request.
type LeaseResult struct {
	Outcome LeaseOutcome
	// Record is the entry logged (Outcome LeaseServed or LeaseRefused).
	Record LeaseRecord
	// Key is the lease key's bytes (wire.LeaseKeySize), served for
	// LeaseKindEnroll and LeaseKindKey requests; nil otherwise.
	Key []byte
	// Next is the replacement key during a rotation, served with every
	// lease until the agent asks with its ID.
	Next *NextKey
	// Err is why the device's lease key could not be opened (Outcome
	// LeaseFailed); nil otherwise.
	Err error
}

// NextKey is a replacement lease key.
type NextKey struct {
	ID  string
	Key []byte
}

// The states of a lease key (LeaseKey.State).
const (
	KeyCurrent = "current" // the key served
	KeyNext    = "next"    // a replacement, sent with each lease until the agent asks with it
	KeyRetired = "retired" // replaced by the next; destroyed when retired
)

// LeaseKey is what the store says of a device's lease key (never its
// bytes, which only ServeLeases hands out).
type LeaseKey struct {
	ID          string // "lk_" and 26 base32 characters
	DeviceID    string
	State       string // KeyCurrent, KeyNext or KeyRetired
	CreatedAt   time.Time
	RetiredAt   time.Time // zero unless retired
	DestroyedAt time.Time // zero while the key's bytes exist
}

// The results a command can have (Command.Result): the agent's
// acknowledgement, wire.AckDone, wire.AckFailed or wire.AckRefused, or
// none yet.
const NotAcknowledged = ""

// Command is a lock, unlock or wipe for a device's agent, and what became
// of it.
type Command struct {
	// Seq is assigned by the store, increasing in the order requested: it,
	// not RequestedAt, orders a device's commands.
	Seq int64
	// ID is assigned by the store ("cmd_" and 26 base32 characters) and
	// sent to the agent, which de-duplicates on it.
	ID          string
	DeviceID    string
	Type        string // wire.CommandLock, wire.CommandUnlock or wire.CommandWipe
	RequestedAt time.Time
	RequestedBy string
	// Expires is when it is no longer sent to the agent; zero for a wipe,
	// which never expires: it is sent at the device's next contact,
	// however long it has been offline.
	Expires time.Time
	// DeliveredAt is when the server first put it in a reply; zero until.
	DeliveredAt time.Time
	// Result is the agent's acknowledgement: wire.AckDone, wire.AckFailed
	// or wire.AckRefused, with its Reason; NotAcknowledged until. Only an
	// acknowledgement sets it.
	Result string
	Reason string
	// AckedAt is the time the agent says it acted (its clock);
	// AckReceivedAt when the server stored the acknowledgement.
	AckedAt, AckReceivedAt time.Time
	// CancelledAt and CancelledBy say who cancelled it, and when: only
	// possible before it was delivered.
	CancelledAt time.Time
	CancelledBy string
}

// CommandStatus is where a command stands.
type CommandStatus string

// The command statuses.
const (
	StatusRequested CommandStatus = "requested" // waiting for the device's next contact
	StatusDelivered CommandStatus = "delivered" // sent to the agent, not yet acknowledged
	StatusDone      CommandStatus = "done"      // the agent acknowledged it done
	StatusFailed    CommandStatus = "failed"    // the agent tried, and failed (Reason says why)
	StatusRefused   CommandStatus = "refused"   // the agent refused it (Reason says why)
	StatusCancelled CommandStatus = "cancelled" // cancelled before it was delivered
	StatusExpired   CommandStatus = "expired"   // a lock or unlock that expired before it was delivered or acknowledged (a wipe never does)
)

// Status is where c stands at now.
func (c Command) Status(now time.Time) CommandStatus {
	switch {
	case c.Result == wire.AckDone:
		return StatusDone
	case c.Result == wire.AckFailed:
		return StatusFailed
	case c.Result != NotAcknowledged:
		return StatusRefused
	case !c.CancelledAt.IsZero():
		return StatusCancelled
	case !c.Expires.IsZero() && !now.Before(c.Expires):
		return StatusExpired
	case !c.DeliveredAt.IsZero():
		return StatusDelivered
	}
	return StatusRequested
}

// Pending reports whether c may still be sent to the agent at now: not
// acknowledged, not cancelled, not expired.
func (c Command) Pending(now time.Time) bool {
	s := c.Status(now)
	return s == StatusRequested || s == StatusDelivered
}

// CommandAck is a device's acknowledgement of a command, from a stored
// heartbeat.
type CommandAck struct {
	ID     string
	Type   string
	Result string // wire.AckDone, wire.AckFailed or wire.AckRefused
	Reason string
	At     time.Time // the agent's clock
}

// Found records that a device marked lost was found.
type Found struct {
	DeviceID string
	At       time.Time
	By       string
	// UnlockExpires is the expiry of the unlock MarkFound requests if a
	// lock is in force.
	UnlockExpires time.Time
}

// FoundResult is what MarkFound did.
type FoundResult struct {
	// Closed is how many open lost reports it closed.
	Closed int
	// Unlock is the unlock it requested, if a lock was in force; nil if
	// none was.
	Unlock *Command
}

// Keys keeps the devices' lease keys, the log of every lease served or
// refused, and delivers commands to agents. It is part of [Store].
type Keys interface {
	// ServeLeases decides and logs each request, in order, in one
	// transaction. A request is refused, and the refusal logged (folded
	// into the device's latest entry when that is a run of identical
	// refusals, see [LeaseRecord]), for a
	// device that is revoked (wire.RefusedRevoked); that has a wipe
	// requested (not cancelled) or its lease key destroyed
	// (wire.RefusedWiped); that has an open lost report, one not since
	// closed by MarkFound (wire.RefusedLost); or that is locked: its
	// latest lock or unlock command not cancelled is a lock, see Locked
	// (wire.RefusedLocked), in that order. Otherwise the device's
	// current key is served (made, if it has none: an agent asks with
	// KeyID "" for its first; whatever KeyID a request names, the record
	// and the grant name the key served), and logged with Until = At +
	// Window; a pending next
	// key becomes current when the request asks with its ID (the old one
	// retired and destroyed), and is sent with every lease until then.
	// The key's bytes go with LeaseKindEnroll and LeaseKindKey requests only. A
	// nonce the device has used before (every request's nonce is kept,
	// apart from the log) is a LeaseReplay, an unknown device a
	// LeaseUnknown: neither served nor logged.
	ServeLeases(ctx context.Context, reqs []LeaseRequest) ([]LeaseResult, error)
	// RotateLeaseKey makes a next key for a device, which ServeLeases
	// sends with its leases until the agent asks with it. ErrNotFound for
	// an unknown device; ErrConflict if the device has no current key
	// (none was ever served, or it was destroyed) or a next key is
	// already waiting.
	RotateLeaseKey(ctx context.Context, deviceID string, at time.Time) (LeaseKey, error)
	// LeaseKeys returns a device's lease keys, oldest first.
	LeaseKeys(ctx context.Context, deviceID string) ([]LeaseKey, error)
	// Leases returns a device's lease log entries in [from, to) (of a run
	// of refusals, one that overlaps it: LastAt >= from, At < to), newest
	// first by At, at most limit entries (limit <= 0: all).
	Leases(ctx context.Context, deviceID string, from, to time.Time, limit int) ([]LeaseRecord, error)
	// LeaseEvidence answers, from the device's whole lease log in one
	// snapshot (no window, no row limit), what the log says of the
	// device's vault key around t: see [LeaseEvidence]. An unknown device
	// has none: every field zero.
	LeaseEvidence(ctx context.Context, deviceID string, t time.Time) (LeaseEvidence, error)
	// DeliverCommands returns a device's commands pending at at (not
	// acknowledged, not cancelled, not expired), in the order requested (Seq),
	// at most limit of them, and marks those not yet delivered delivered
	// at at: from then on they cannot be cancelled.
	DeliverCommands(ctx context.Context, deviceID string, at time.Time, limit int) ([]Command, error)
}

// A KeySealer seals the lease keys a store holds with a key-encryption
// key kept outside the database (kek.Sealer, a file in the server's data
// folder), so that a dump or backup of the database holds none in the
// clear. The sealed bytes are bound to the device and key ID.
type KeySealer interface {
	Seal(deviceID, keyID string, key []byte) ([]byte, error)
	Open(deviceID, keyID string, sealed []byte) ([]byte, error)
}

// Sealing is a store that holds lease keys sealed: both stores are. Until
// it is given a KeySealer it refuses to store or read a lease key's bytes
// (ErrNoKeySealer): ServeLeases and RotateLeaseKey fail.
type Sealing interface {
	UseKeySealer(KeySealer)
}

// ErrNoKeySealer is returned by ServeLeases and RotateLeaseKey of a store
// given no KeySealer.
var ErrNoKeySealer = errors.New("the store has no key-encryption key for lease keys (see store.Sealing)")

// NewCommandID returns a new command ID: "cmd_" and 26 random base32
// characters.
func NewCommandID() string { return "cmd_" + randomID() }

// NewLeaseKeyID returns a new lease key ID: "lk_" and 26 random base32
// characters.
func NewLeaseKeyID() string { return "lk_" + randomID() }

// NewLeaseKey returns wire.LeaseKeySize random bytes.
func NewLeaseKey() []byte {
	b := make([]byte, wire.LeaseKeySize)
	rand.Read(b)
	return b
}

var lower32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToLower(lower32.EncodeToString(b))[:26]
}

// Locked reports whether a device whose commands are cmds is locked: its
// latest lock or unlock that is not cancelled is a lock. Latest is by
// Seq, the order the store took them in, never by RequestedAt: two
// requests in one microsecond, or a step back of the server's clock
// between them, must not reorder them. ServeLeases refuses a locked
// device its lease.
func Locked(cmds []Command) bool {
	var latest *Command
	for i := range cmds {
		c := &cmds[i]
		if (c.Type != wire.CommandLock && c.Type != wire.CommandUnlock) || !c.CancelledAt.IsZero() {
			continue
		}
		if latest == nil || c.Seq > latest.Seq {
			latest = c
		}
	}
	return latest != nil && latest.Type == wire.CommandLock
}

// WipeRequested reports whether cmds hold a wipe that is not cancelled
// (whatever became of it since). ServeLeases refuses such a device its
// lease.
func WipeRequested(cmds []Command) bool {
	for _, c := range cmds {
		if c.Type == wire.CommandWipe && c.CancelledAt.IsZero() {
			return true
		}
	}
	return false
}
