package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

type assessmentData struct {
	D                    store.Device
	A                    *assess.Assessment
	LostAt, DiscoveredAt string // as given, for the form
	Message              string
	Print, JSON, CSV     string
}

// assessment shows the lost-device assessment for ?lost_at= and
// ?discovered_at= (default: the latest lost report's), in the console, or
// with ?format=print|json|csv as a printable page or a download.
func (c *Console) assessment(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	q := r.URL.Query()
	id := r.PathValue("id")
	row, err := c.cfg.Store.Device(ctx, id)
	if err != nil {
		return err
	}
	d := assessmentData{D: row.Device, LostAt: q.Get("lost_at"), DiscoveredAt: q.Get("discovered_at")}
	in := assess.Input{DeviceID: id}
	if what, err := lossTimes(q, &in.LostAt, &in.DiscoveredAt); err != nil {
		d.Message = "The time of " + what + ": " + err.Error()
		c.render(w, r, s, http.StatusBadRequest, "assessment", "Assessment: "+row.Hostname, d)
		return nil
	}
	format := q.Get("format")
	if !slices.Contains([]string{"", "print", "json", "csv"}, format) {
		return bad("format must be print, json or csv")
	}
	a, err := c.act.ViewAssessment(ctx, s.who.User.Name, in, format)
	if errors.Is(err, assess.ErrNoLossTime) {
		d.Message = "The device has not been marked lost: give the time of loss to assess."
		c.render(w, r, s, http.StatusOK, "assessment", "Assessment: "+row.Hostname, d)
		return nil
	}
	if err != nil {
		return err
	}
	switch format {
	case "print":
		w.Header().Set("Content-Security-Policy", c.printCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		return a.WriteHTML(w)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="assessment-`+present.FileName(id)+`.json"`)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="assessment-`+present.FileName(id)+`.csv"`)
		return a.WriteCSV(w)
	}
	d.A = a
	link := func(format string) string {
		v := url.Values{"lost_at": {present.Time(a.LostAt)}, "discovered_at": {present.Time(a.DiscoveredAt)}, "format": {format}}
		return Prefix + "devices/" + url.PathEscape(id) + "/assessment?" + v.Encode()
	}
	d.Print, d.JSON, d.CSV = link("print"), link("json"), link("csv")
	if d.LostAt == "" {
		d.LostAt = present.Time(a.LostAt)
	}
	if d.DiscoveredAt == "" {
		d.DiscoveredAt = present.Time(a.DiscoveredAt)
	}
	c.render(w, r, s, http.StatusOK, "assessment", "Assessment: "+row.Hostname, d)
	return nil
}
