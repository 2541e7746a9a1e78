package server

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

// Unknown is the liveness of a device when there is no policy to judge it
// by, or for a state from the history, which records changes and not
// every heartbeat.
const Unknown Liveness = "unknown"

// Livenesses are the values of the device lists' liveness filter.
var Livenesses = []Liveness{Online, Offline, Missing, Never, Unknown}

// PolicyFunc returns the policy in force.
type PolicyFunc func(ctx context.Context) (*policy.Policy, error)

// InForce returns the policy f returns, or nil if f is nil or fails: the
// device lists still show, with every liveness Unknown.
func (f PolicyFunc) InForce(ctx context.Context) *policy.Policy {
	if f == nil {
		return nil
	}
	p, err := f(ctx)
	if err != nil {
		return nil
	}
	return p
}

// Device is a device as the API, the console and the casekeep-server
// command line show it: its row from the store, its liveness, and what its
// agent said about stopping.
type Device struct {
	store.DeviceRow
	Liveness Liveness
	Status   AgentStatus
	// Then is set for a device as it was at a past time (DeviceThen):
	// its State is the one then, from the state history; what its agent
	// said about stopping and the leases it was served are not known
	// then, and are not shown.
	Then bool
}

// DeviceOf is the device of r at now: its liveness by the policy p, or
// Unknown if p is nil.
func DeviceOf(r store.DeviceRow, p *policy.Policy, now time.Time) Device {
	live := Unknown
	if p != nil {
		live = LivenessOf(r.State.ReceivedAt, now, p)
	}
	return Device{DeviceRow: r, Liveness: live, Status: AgentStatusOf(r, live)}
}

// DeviceThen is the device of r as it was when its state was st, from
// the state history (the zero State if it had not reported by then).
func DeviceThen(r store.DeviceRow, st store.State) Device {
	r.State = st
	d := DeviceOf(r, nil, time.Time{})
	d.Then = true
	return d
}

// Revoked reports whether the device's enrollment is revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// Reported reports whether the device has sent a heartbeat (by then, for
// a device of the past).
func (d Device) Reported() bool { return !d.State.ReceivedAt.IsZero() }

// DeviceFilter is a device list's filter as a person gave it: every field
// "" (any) or a value to keep devices by.
type DeviceFilter struct {
	// Liveness is one of Livenesses.
	Liveness string
	// Compliant is "true" or "false" (or another form strconv.ParseBool
	// reads): devices whose state is compliant, or is not. A device that
	// has not reported has no compliant state.
	Compliant string
	// Plaintext is "true" or "false": devices that hold plaintext, or
	// hold none.
	Plaintext string
	// PolicyVersion is a number: devices that report running that
	// version of the policy.
	PolicyVersion string
	// User is a user name, matched in any case.
	User string
	// Agent is one of AgentFilters.
	Agent string
}

// FilterError is a DeviceFilter that cannot be read: which field (as the
// API's query and the console's form name it: "policy_version") and what
// is wrong with it.
type FilterError struct {
	Field   string
	Problem string
}

func (e *FilterError) Error() string { return e.Field + " " + e.Problem }

// Match returns the test of a device that f makes, or a *FilterError for
// the first field it cannot read.
func (f DeviceFilter) Match() (func(Device) bool, error) {
	var keep []func(Device) bool
	bad := func(field, problem string) (func(Device) bool, error) {
		return nil, &FilterError{Field: field, Problem: problem}
	}
	if v := f.Liveness; v != "" {
		if !slices.Contains(Livenesses, Liveness(v)) {
			return bad("liveness", "must be online, offline, missing or never")
		}
		keep = append(keep, func(d Device) bool { return d.Liveness == Liveness(v) })
	}
	for _, yes := range []struct {
		field, v string
		is       func(Device) bool
	}{
		{"compliant", f.Compliant, func(d Device) bool { return d.State.Compliant }},
		{"plaintext", f.Plaintext, func(d Device) bool { return d.State.PlaintextFiles > 0 }},
	} {
		if yes.v == "" {
			continue
		}
		b, err := strconv.ParseBool(yes.v)
		if err != nil {
			return bad(yes.field, "must be true or false")
		}
		is := yes.is
		keep = append(keep, func(d Device) bool { return is(d) == b })
	}
	if v := f.PolicyVersion; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return bad("policy_version", "must be a number")
		}
		keep = append(keep, func(d Device) bool { return d.State.PolicyVersion == n })
	}
	if v := f.User; v != "" {
		keep = append(keep, func(d Device) bool { return strings.EqualFold(d.User, v) })
	}
	if v := f.Agent; v != "" {
		if !slices.Contains(AgentFilters, v) {
			return bad("agent", "must be one of "+strings.Join(AgentFilters, ", "))
		}
		keep = append(keep, func(d Device) bool { return d.Status.Matches(v) })
	}
	return func(d Device) bool {
		for _, k := range keep {
			if !k(d) {
				return false
			}
		}
		return true
	}, nil
}

// DeviceColumns are the columns of a device list's CSV download, in the
// API and the console; Device.Cells writes a device's.
var DeviceColumns = []string{"id", "hostname", "user", "os", "serial", "last_seen", "liveness", "compliant", "plaintext_files",
	"sealed_files", "case_refs", "disk_encryption", "policy_version", "agent_version", "revoked",
	"agent_state", "agent_since", "unannounced_stops", "last_unannounced_stop", "silent",
	"lease", "offline_copy", "lease_served_at", "lease_until"}

// Cells writes d as the cells of DeviceColumns, times in RFC 3339 UTC
// (present.Table makes them safe for a spreadsheet). A device of the past
// has its agent's state and its leases served left empty.
func (d Device) Cells() []string {
	st, a := d.State, d.Status
	agent := []string{string(a.State), present.Time(a.Since), strconv.FormatInt(a.UnannouncedStops, 10), present.Time(a.LastUnannouncedStop)}
	served := []string{present.Time(d.Lease.At), present.Time(d.Lease.Until)}
	if d.Then {
		agent, served = []string{"", "", "", ""}, []string{"", ""}
	}
	cells := []string{d.ID, d.Hostname, d.User, d.OS, d.Serial, present.Time(st.ReceivedAt), string(d.Liveness),
		strconv.FormatBool(st.Compliant), strconv.FormatInt(st.PlaintextFiles, 10), strconv.FormatInt(st.SealedFiles, 10),
		strconv.Itoa(st.CaseRefs), st.DiskEncryption, strconv.Itoa(st.PolicyVersion), st.AgentVersion, strconv.FormatBool(d.Revoked())}
	cells = append(cells, agent...)
	cells = append(cells, strconv.FormatBool(a.Silent), st.Lease, st.OfflineCopy)
	return append(cells, served...)
}
