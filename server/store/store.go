package store

import (
	"context"
	"errors"
	"time"
)

// Errors, to be told apart with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrTokenUnknown = errors.New("enrollment token unknown")
	ErrTokenExpired = errors.New("enrollment token expired")
	ErrTokenUsedUp  = errors.New("enrollment token used up")
	ErrRollback     = errors.New("policy version is not newer than the one stored")
	// ErrConflict: what was asked conflicts with what the record holds:
	// cancelling a command already delivered, marking found a device
	// not marked lost, rotating a lease key already being rotated.
	// Nothing is written.
	ErrConflict = errors.New("conflicts with the record")
	// ErrInvalid: a value no store can keep exactly: a string with a NUL
	// byte or invalid UTF-8, a time outside the years 1 to 9999, a
	// sequence number above 2^63-1. Nothing is written.
	ErrInvalid = errors.New("invalid value")
)

// Token is an enrollment token. Only the SHA-256 of its secret is stored.
type Token struct {
	Hash      [32]byte
	Uses      int // enrollments left
	ExpiresAt time.Time
	CreatedAt time.Time
	Note      string
}

// Device is an enrolled device: what it said at enrollment.
type Device struct {
	ID           string
	SigningKey   []byte // Ed25519 public key that signs its heartbeats
	Hostname     string
	OS           string
	Arch         string
	Serial       string
	User         string
	AgentVersion string // at enrollment
	EnrolledAt   time.Time
	RevokedAt    time.Time // zero unless revoked
}

// State is what a device reported in one heartbeat: the compact form the
// store keeps as the device's latest state and, when it changes, in the
// state history.
type State struct {
	Seq            uint64
	Hash           []byte // SHA-256 of the heartbeat's exact bytes
	SentAt         time.Time
	ReceivedAt     time.Time // the device's last seen time
	AgentVersion   string
	PolicyVersion  int
	PolicyHash     string
	Recipient      string // the device's age recipient
	SealedFiles    int64
	SealedBytes    int64
	PlaintextFiles int64
	CaseRefs       int    // how many case references it holds
	DiskEncryption string // "pass", "fail" or "unknown"
	Compliant      bool
	Lease          string // lease state, as reported (one of the wire.Lease constants)
	// OfflineCopy is how the device said its local copy of the lease is
	// held (wire.OfflineTPM, wire.OfflineOS or wire.OfflineNone; "" if
	// it did not say).
	OfflineCopy string
}

// Changed reports whether s differs from prev in anything the state history
// records: everything but the sequence, hash and times.
func (s State) Changed(prev State) bool {
	return s.AgentVersion != prev.AgentVersion || s.PolicyVersion != prev.PolicyVersion ||
		s.PolicyHash != prev.PolicyHash || s.Recipient != prev.Recipient ||
		s.SealedFiles != prev.SealedFiles || s.SealedBytes != prev.SealedBytes ||
		s.PlaintextFiles != prev.PlaintextFiles || s.CaseRefs != prev.CaseRefs ||
		s.DiskEncryption != prev.DiskEncryption || s.Compliant != prev.Compliant || s.Lease != prev.Lease ||
		s.OfflineCopy != prev.OfflineCopy
}

// Event is something a device reported happening.
type Event struct {
	DeviceID string
	Seq      uint64 // of the heartbeat that carried it
	Time     time.Time
	Type     string
	CaseRef  string
	Detail   string
}

// CaseCount is how many sealed files a device holds for a case reference.
type CaseCount struct {
	Ref   string
	Files int
}

// Heartbeat is one verified heartbeat, ready to store.
type Heartbeat struct {
	DeviceID string
	Seq      uint64
	Hash     []byte // SHA-256 of Body
	PrevHash []byte // the hash the device says came before; empty for its first
	Body     []byte // the exact bytes received, kept for the retention period
	State    State  // Seq, Hash and ReceivedAt match the fields above
	Events   []Event
	CaseRefs []CaseCount
	// Stopping is why the agent said, in this heartbeat, that it was
	// stopping (wire.StopService, wire.StopShutdown or wire.StopUninstall);
	// "" in the heartbeats of an agent that runs on.
	Stopping string
	// Acks are the device's acknowledgements of commands: each updates
	// its command when the heartbeat is stored (see Ingest).
	Acks []CommandAck
}

// Result says what Ingest did with a heartbeat.
type Result int

const (
	Accepted Result = iota // stored
	Gap                    // stored, and a break in the hash chain recorded
	Replay                 // not stored: its seq is not after the last stored
	Unknown                // not stored: no such device
	Revoked                // not stored: the device is revoked
)

func (r Result) String() string {
	return [...]string{"accepted", "gap", "replay", "unknown device", "revoked device"}[r]
}

// Outcome is Ingest's answer for one heartbeat.
type Outcome struct {
	Result  Result
	LastSeq uint64 // the device's last stored seq after this heartbeat
}

// DeviceRow is a device and its latest state (zero State and Agent if it
// has never sent a heartbeat).
type DeviceRow struct {
	Device
	State State
	Agent Agent
	// Lease is the last lease served to it (zero times: none).
	Lease ServedLease
}

// ServedLease is when a device's last lease was served, and until when
// its local copy may be used without hearing from the server again.
type ServedLease struct {
	At    time.Time
	Until time.Time
}

// Agent is what a device's agent has said, or shown, about stopping: kept
// per device by Ingest, from its newest heartbeat and from the
// wire.EventUnannouncedStop events it has reported.
type Agent struct {
	// Stopping is the newest heartbeat's Stopping: why the agent said it
	// was stopping ("stop", "shutdown" or "uninstall"), or "" if that
	// heartbeat did not say so (the agent runs).
	Stopping string
	// StoppingAt is when the agent made that heartbeat (its State.SentAt);
	// zero when Stopping is "".
	StoppingAt time.Time
	// UnannouncedStops counts the wire.EventUnannouncedStop events the
	// device has reported: runs of its agent that ended without a
	// stopping heartbeat (killed, crashed, the power lost).
	UnannouncedStops int64
	// LastUnannouncedStop is the latest Time of those events (when the
	// run that ended unannounced was last known alive); zero if none.
	LastUnannouncedStop time.Time
}

// StateChange is the state a device reported from At on.
type StateChange struct {
	DeviceID string
	At       time.Time
	State    State
}

// ChainGap is a break in a device's hash chain.
type ChainGap struct {
	DeviceID   string
	Seq        uint64 // the heartbeat whose PrevHash did not continue the chain
	Expected   []byte // the hash of the last heartbeat stored before it
	Got        []byte // its PrevHash
	DetectedAt time.Time
}

// Holding is a case reference a device has held.
type Holding struct {
	DeviceID  string
	Ref       string
	FirstSeen time.Time
	LastSeen  time.Time // equal to the device's last seen time while it still holds it
	Files     int       // at LastSeen
	Held      bool      // its latest heartbeat lists it
}

// Store keeps what the server knows. Implementations: package sqlite (the
// embedded default) and package postgres. Every method is safe for
// concurrent use, including by several server processes on one database.
type Store interface {
	// Access keeps people, their API tokens, the audit log and the
	// actions taken on devices.
	Access
	// Query answers questions across the fleet and about the past: who
	// holds a case reference, every device's state at a time, event
	// search, the heartbeats around a time.
	Query
	// Keys keeps the lease keys and the lease log, and delivers
	// commands to agents.
	Keys

	// CreateToken stores an enrollment token.
	CreateToken(ctx context.Context, t Token) error
	// UseToken spends one use of a token, atomically. It fails with
	// ErrTokenUnknown, ErrTokenExpired (at now) or ErrTokenUsedUp.
	UseToken(ctx context.Context, hash [32]byte, now time.Time) error

	// CreateDevice stores a new device; ErrExists if the ID is taken.
	CreateDevice(ctx context.Context, d Device) error
	// Device returns one device; ErrNotFound if there is none.
	Device(ctx context.Context, id string) (DeviceRow, error)
	// Devices returns every device, by ID.
	Devices(ctx context.Context) ([]DeviceRow, error)
	// RevokeDevice marks a device revoked from at on; its heartbeats are
	// refused from then, and its lease keys are destroyed now (destroyed
	// at at): a revoked device is never served its key again, nor can its
	// agent acknowledge a wipe. ErrNotFound if there is none.
	RevokeDevice(ctx context.Context, id string, at time.Time) error

	// Ingest stores heartbeats in one transaction, in the order given
	// (each device's in ascending seq), and says what it did with each: a
	// heartbeat whose seq is not after the device's last is a replay and
	// is not stored; one whose PrevHash is not the last stored Hash (for a
	// device that has stored one) is stored and a ChainGap recorded. A
	// stored heartbeat updates the device's latest state, adds a state
	// change if State.Changed, adds its events, and records the case
	// references it lists as held; one it no longer lists is no longer
	// held, and keeps as LastSeen the last heartbeat that listed it. (A
	// heartbeat whose list of references and counts is unchanged writes no
	// holdings at all: a held reference's LastSeen is its device's.) The
	// device's Agent takes Stopping from its newest stored heartbeat (and
	// that heartbeat's SentAt as StoppingAt, zero when Stopping is ""), and
	// counts each stored event of type wire.EventUnannouncedStop, keeping
	// the latest such event's Time. Each acknowledgement in a stored
	// heartbeat updates the device's command of its ID and Type, if that
	// command is neither acknowledged nor cancelled (the first
	// acknowledgement stands; one for an unknown command, another
	// device's or of another type is ignored): its Result, Reason and
	// AckedAt, AckReceivedAt the heartbeat's ReceivedAt, DeliveredAt set
	// if it was not. A wipe acknowledged done or failed destroys every
	// lease key of the device in the same transaction. It is safe against
	// other Ingests on the same devices, in this or another process: no
	// seq is ever stored twice.
	Ingest(ctx context.Context, hbs []Heartbeat) ([]Outcome, error)

	// Gaps returns a device's chain gaps, by seq.
	Gaps(ctx context.Context, deviceID string) ([]ChainGap, error)
	// StateChanges returns a device's state changes with At in [from, to),
	// by time.
	StateChanges(ctx context.Context, deviceID string, from, to time.Time) ([]StateChange, error)
	// Events returns a device's events with Time in [from, to), by time.
	Events(ctx context.Context, deviceID string, from, to time.Time) ([]Event, error)
	// Holdings returns the case references a device has held, by ref.
	Holdings(ctx context.Context, deviceID string) ([]Holding, error)
	// Heartbeat returns the exact bytes stored for a heartbeat, while it
	// is within the retention period; ErrNotFound after.
	Heartbeat(ctx context.Context, deviceID string, seq uint64) ([]byte, error)
	// PruneHeartbeats removes stored heartbeat bodies received before
	// before, and says how many; the compact state, events, holdings and
	// gaps stay.
	PruneHeartbeats(ctx context.Context, before time.Time) (int64, error)

	// SetPolicy stores a signed policy bundle as the current one; it fails
	// with ErrRollback unless version is greater than the stored one.
	SetPolicy(ctx context.Context, version int, bundle []byte) error
	// Policy returns the current policy bundle and its version;
	// ErrNotFound if none is stored.
	Policy(ctx context.Context) (version int, bundle []byte, err error)

	Close() error
}
