package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/internal/present"
)

// agentFilters are the agent filter's choices, as the form shows them.
var agentFilters = []struct{ Value, Label string }{
	{"running", "running"},
	{"stopped", "stopped (service stopped)"},
	{"shutdown", "shut down"},
	{"removed", "removed"},
	{"silent", "offline without saying it was stopping"},
	{"unannounced", "stopped without saying so"},
}

type devicesData struct {
	Filter  server.DeviceFilter
	Devices []server.Device
	Total   int
	CSV     string
	Error   string
}

// matcher returns the test of a device the list's filter f makes, or the
// error to show for a field it cannot read.
func matcher(f server.DeviceFilter) (func(server.Device) bool, error) {
	f.User = strings.TrimSpace(f.User) // typed into the form
	match, err := f.Match()
	if err != nil {
		if fe := (*server.FilterError)(nil); errors.As(err, &fe) {
			err = bad("%s %s", strings.ReplaceAll(fe.Field, "_", " "), fe.Problem)
		}
		return nil, err
	}
	return func(d server.Device) bool {
		// A device that has not reported is neither compliant nor not:
		// the list shows it as not yet reported.
		return match(d) && (f.Compliant == "" || d.Reported())
	}, nil
}

func (c *Console) devices(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	f := server.DeviceFilter{Liveness: q.Get("liveness"), Compliant: q.Get("compliant"), Plaintext: q.Get("plaintext"), PolicyVersion: q.Get("policy_version"), User: q.Get("user"), Agent: q.Get("agent")}
	keep, err := matcher(f)
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
	p, now := c.cfg.Policy.InForce(r.Context()), c.cfg.Now()
	d := devicesData{Filter: f, Total: len(rows)}
	for _, row := range rows {
		if v := server.DeviceOf(row, p, now); keep(v) {
			d.Devices = append(d.Devices, v)
		}
	}
	if q.Get("format") == "csv" {
		return present.TableOf(server.DeviceColumns, d.Devices, server.Device.Cells).WriteCSV(w, "devices")
	}
	q.Set("format", "csv")
	d.CSV = Prefix + "devices?" + q.Encode()
	c.render(w, r, s, http.StatusOK, "devices", "Devices", d)
	return nil
}
