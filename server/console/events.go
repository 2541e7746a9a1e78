package console

import (
	"net/http"
	"strings"

	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

type eventRow struct {
	store.Event
	Hostname string
}

type eventsData struct {
	Type, Device, CaseRef, From, To string
	Events                          []eventRow
	Full                            bool // the limit was reached
	CSV                             string
	Error                           string
}

// events searches events across the fleet.
func (c *Console) events(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := eventsData{Type: strings.TrimSpace(q.Get("type")), Device: strings.TrimSpace(q.Get("device")), CaseRef: strings.TrimSpace(q.Get("case_ref"))}
	from, to, err := c.timeRange(q)
	d.From, d.To = present.Time(from), present.Time(to)
	if err != nil {
		d.From, d.To, d.Error = q.Get("from"), q.Get("to"), err.Error()
		c.render(w, r, s, http.StatusBadRequest, "events", "Event search", d)
		return nil
	}
	evs, err := c.cfg.Store.SearchEvents(ctx, store.EventFilter{DeviceID: d.Device, Type: d.Type, CaseRef: d.CaseRef, From: from, To: to, Limit: listLimit})
	if err != nil {
		return err
	}
	names, err := c.hostnames(ctx)
	if err != nil {
		return err
	}
	d.Full = len(evs) >= listLimit
	for _, e := range evs {
		d.Events = append(d.Events, eventRow{e, names[e.DeviceID]})
	}
	if q.Get("format") == "csv" {
		header := []string{"time", "device_id", "hostname", "type", "case_ref", "detail"}
		return present.TableOf(header, d.Events, func(e eventRow) []string {
			return []string{present.Time(e.Time), e.DeviceID, e.Hostname, e.Type, e.CaseRef, e.Detail}
		}).WriteCSV(w, "events")
	}
	q.Set("from", d.From)
	q.Set("to", d.To)
	q.Set("format", "csv")
	d.CSV = Prefix + "events?" + q.Encode()
	c.render(w, r, s, http.StatusOK, "events", "Event search", d)
	return nil
}
