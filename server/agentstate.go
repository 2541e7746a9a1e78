package server

import (
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// AgentState is what a device's agent last said about running, named
// plainly for the API and the console.
type AgentState string

// The agent states.
const (
	AgentRunning  AgentState = "running"  // its newest heartbeat did not say it was stopping
	AgentStopped  AgentState = "stopped"  // it said its service was being stopped (wire.StopService)
	AgentShutdown AgentState = "shutdown" // it said the computer was shutting down (wire.StopShutdown)
	AgentRemoved  AgentState = "removed"  // it said casekeep was being removed (wire.StopUninstall)
	AgentNever    AgentState = "never"    // it has never reported
)

// AgentStateOf names the state of a device's agent from what the store
// keeps: never, if the device has not reported; running, if its newest
// heartbeat did not say the agent was stopping; else why it was.
func AgentStateOf(r store.DeviceRow) AgentState {
	if r.State.ReceivedAt.IsZero() {
		return AgentNever
	}
	switch r.Agent.Stopping {
	case "":
		return AgentRunning
	case wire.StopService:
		return AgentStopped
	case wire.StopShutdown:
		return AgentShutdown
	case wire.StopUninstall:
		return AgentRemoved
	}
	return AgentStopped // a reason this server does not know: still a stop it was told of
}

// AgentStatus is what the API and the console show of a device's agent.
type AgentStatus struct {
	State AgentState
	// Since is when the agent made the heartbeat that said it was
	// stopping; zero while it runs.
	Since time.Time
	// UnannouncedStops counts the runs of the agent that ended without
	// saying so (killed, crashed, the power lost); LastUnannouncedStop is
	// when the latest such run was last known alive.
	UnannouncedStops    int64
	LastUnannouncedStop time.Time
	// Silent: the device is offline or missing, and its last heartbeat
	// did not say the agent was stopping. It went quiet without saying so.
	Silent bool
}

// AgentStatusOf is the status of a device's agent, given the device's
// liveness.
func AgentStatusOf(r store.DeviceRow, live Liveness) AgentStatus {
	s := AgentStatus{State: AgentStateOf(r), UnannouncedStops: r.Agent.UnannouncedStops,
		LastUnannouncedStop: r.Agent.LastUnannouncedStop}
	if s.State != AgentRunning && s.State != AgentNever {
		s.Since = r.Agent.StoppingAt
	}
	s.Silent = s.State == AgentRunning && (live == Offline || live == Missing)
	return s
}

// AgentFilters are the values of the device lists' agent filter: a state
// (running, stopped, shutdown or removed), silent, or unannounced (the
// agent has stopped without saying so at least once).
var AgentFilters = []string{string(AgentRunning), string(AgentStopped), string(AgentShutdown), string(AgentRemoved), "silent", "unannounced"}

// Matches reports whether s passes the agent filter f, one of
// AgentFilters.
func (s AgentStatus) Matches(f string) bool {
	switch f {
	case "silent":
		return s.Silent
	case "unannounced":
		return s.UnannouncedStops > 0
	}
	return string(s.State) == f
}
