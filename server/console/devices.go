package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/internal/present"
)

// filter is the device list's form.
type filter struct {
	Liveness, Compliant, Plaintext, PolicyVersion, User, Agent string
}

// agentFilters are the agent filter's choices, as the form shows them.
var agentFilters = []struct{ Value, Label string }{
	{"running", "running"},
	{"stopped", "stopped (service stopped)"},
	{"shutdown", "shut down"},
	{"removed", "removed"},
	{"silent", "offline without saying it was stopping"},
	{"unannounced", "stopped without saying so"},
}

// keep returns the test of a device the filter makes.
func (f filter) keep() (func(deviceView) bool, error) {
	var keep []func(deviceView) bool
	if v := f.Liveness; v != "" {
		if !slices.Contains([]string{"online", "offline", "missing", "never", "unknown"}, v) {
			return nil, bad("liveness must be online, offline, missing or never")
		}
		keep = append(keep, func(d deviceView) bool { return d.Liveness == v })
	}
	if v := f.Compliant; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad("compliant must be true or false")
		}
		keep = append(keep, func(d deviceView) bool { return d.Reported && d.State.Compliant == b })
	}
	if v := f.Plaintext; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad("plaintext must be true or false")
		}
		keep = append(keep, func(d deviceView) bool { return (d.State.PlaintextFiles > 0) == b })
	}
	if v := f.PolicyVersion; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, bad("policy version must be a number")
		}
		keep = append(keep, func(d deviceView) bool { return d.State.PolicyVersion == n })
	}
	if v := strings.TrimSpace(f.User); v != "" {
		keep = append(keep, func(d deviceView) bool { return strings.EqualFold(d.User, v) })
	}
	if v := f.Agent; v != "" {
		if !slices.Contains(server.AgentFilters, v) {
			return nil, bad("agent must be one of %s", strings.Join(server.AgentFilters, ", "))
		}
		keep = append(keep, func(d deviceView) bool { return d.Status.Matches(v) })
	}
	return func(d deviceView) bool {
		for _, k := range keep {
			if !k(d) {
				return false
			}
		}
		return true
	}, nil
}

type devicesData struct {
	Filter  filter
	Devices []deviceView
	Total   int
	CSV     string
	Error   string
}

func (c *Console) devices(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	f := filter{Liveness: q.Get("liveness"), Compliant: q.Get("compliant"), Plaintext: q.Get("plaintext"), PolicyVersion: q.Get("policy_version"), User: q.Get("user"), Agent: q.Get("agent")}
	keep, err := f.keep()
	if err != nil {
		if q.Get("format") == "csv" {
			return err
		}
		c.render(w, r, s, http.StatusBadRequest, "devices", "Devices", devicesData{Filter: f, Error: err.Error()})
		return nil
	}
	rows, err := c.cfg.Store.Devices(r.Context())
	if err != nil {
		return err
	}
	p, now := c.policy(r.Context()), c.cfg.Now()
	d := devicesData{Filter: f, Total: len(rows)}
	for _, row := range rows {
		if v := viewOf(row, p, now); keep(v) {
			d.Devices = append(d.Devices, v)
		}
	}
	if q.Get("format") == "csv" {
		t := present.Table{Header: []string{"id", "hostname", "user", "os", "serial", "last_seen", "liveness", "compliant", "plaintext_files", "sealed_files", "case_refs", "disk_encryption", "policy_version", "agent_version", "revoked",
			"agent_state", "agent_since", "unannounced_stops", "last_unannounced_stop", "silent"}}
		for _, v := range d.Devices {
			a := v.Status
			t.Rows = append(t.Rows, []string{v.ID, v.Hostname, v.User, v.OS, v.Serial, present.Time(v.State.ReceivedAt), v.Liveness,
				strconv.FormatBool(v.State.Compliant), strconv.FormatInt(v.State.PlaintextFiles, 10), strconv.FormatInt(v.State.SealedFiles, 10),
				strconv.Itoa(v.State.CaseRefs), v.State.DiskEncryption, strconv.Itoa(v.State.PolicyVersion), v.State.AgentVersion, strconv.FormatBool(v.Revoked),
				string(a.State), present.Time(a.Since), strconv.FormatInt(a.UnannouncedStops, 10), present.Time(a.LastUnannouncedStop), strconv.FormatBool(a.Silent)})
		}
		return t.WriteCSV(w, "devices")
	}
	q.Set("format", "csv")
	d.CSV = Prefix + "devices?" + q.Encode()
	c.render(w, r, s, http.StatusOK, "devices", "Devices", d)
	return nil
}
