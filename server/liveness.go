package server

import (
	"time"

	"github.com/casekeep/casekeep/policy"
)

// Liveness is whether the server hears from a device.
type Liveness string

// The liveness states.
const (
	Online  Liveness = "online"  // heard from within its interval (and some slack)
	Offline Liveness = "offline" // overdue
	Missing Liveness = "missing" // not heard from for the policy's days
	Never   Liveness = "never"   // enrolled, never heard from
)

// LivenessSlack is added to a device's interval and jitter before it counts
// as offline, as Fleet does: a heartbeat a little late is not an absence.
const LivenessSlack = time.Minute

// LivenessOf says whether a device last seen at lastSeen is online at now
// under the policy p: online while lastSeen + interval + jitter + slack is
// after now, then offline, then missing after the policy's days.
func LivenessOf(lastSeen, now time.Time, p *policy.Policy) Liveness {
	switch {
	case lastSeen.IsZero():
		return Never
	case lastSeen.Add(p.Heartbeat.Interval + p.Heartbeat.Jitter + LivenessSlack).After(now):
		return Online
	case now.Sub(lastSeen) >= time.Duration(p.Offline.MissingAfterDays)*24*time.Hour:
		return Missing
	}
	return Offline
}
