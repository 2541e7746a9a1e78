package store

import (
	"context"
	"time"
)

// EventFilter selects events across the fleet. Zero fields match all.
type EventFilter struct {
	DeviceID string
	// Type matches an event type exactly, or every type that starts with
	// it when it ends in "." (such as wire.PrefixStorage).
	Type string
	// CaseRef matches exactly.
	CaseRef string
	// From and To bound Time to [From, To); a zero To means no bound.
	From, To time.Time
	// Limit bounds the events returned (<= 0: 10,000).
	Limit int
}

// HeartbeatMeta is when one stored heartbeat was made and received.
type HeartbeatMeta struct {
	Seq        uint64
	SentAt     time.Time
	ReceivedAt time.Time
}

// Query answers the questions of IT security and the DPO from the compact
// history. It is part of [Store].
type Query interface {
	// CaseHolders returns every holding of the case reference ref: each
	// device that has held it, first and last seen, and whether it still
	// does; by device ID.
	CaseHolders(ctx context.Context, ref string) ([]Holding, error)
	// StatesAt returns, for every device with a state change at or before
	// t, the latest such change: the state each device was in at t. By
	// device ID.
	StatesAt(ctx context.Context, t time.Time) ([]StateChange, error)
	// StateAt returns one device's latest state change at or before t;
	// ErrNotFound if it has none.
	StateAt(ctx context.Context, deviceID string, t time.Time) (StateChange, error)
	// SearchEvents returns the events f selects, by time then device ID.
	SearchEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// HeartbeatsAround returns the last heartbeat of a device received at
	// or before t and the first received after t, from the heartbeats
	// still stored (see PruneHeartbeats); a zero Seq means none.
	HeartbeatsAround(ctx context.Context, deviceID string, t time.Time) (before, after HeartbeatMeta, err error)
}
