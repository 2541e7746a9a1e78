package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

type holder struct {
	store.Holding
	Hostname string
}

type casesData struct {
	Ref     string
	Holders []holder
	Still   int
	CSV     string
}

// cases lists the devices that have held a case reference.
func (c *Console) cases(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := casesData{Ref: strings.TrimSpace(q.Get("ref"))}
	if d.Ref != "" {
		hs, err := c.cfg.Store.CaseHolders(ctx, d.Ref)
		if err != nil {
			return err
		}
		names, err := c.hostnames(ctx)
		if err != nil {
			return err
		}
		for _, h := range hs {
			d.Holders = append(d.Holders, holder{h, names[h.DeviceID]})
			if h.Held {
				d.Still++
			}
		}
		if q.Get("format") == "csv" {
			header := []string{"device_id", "hostname", "case_ref", "first_seen", "last_seen", "files", "held"}
			return present.TableOf(header, d.Holders, func(h holder) []string {
				return []string{h.DeviceID, h.Hostname, h.Ref, present.Time(h.FirstSeen), present.Time(h.LastSeen), strconv.Itoa(h.Files), strconv.FormatBool(h.Held)}
			}).WriteCSV(w, "case-"+d.Ref)
		}
		d.CSV = Prefix + "cases?" + url.Values{"ref": {d.Ref}, "format": {"csv"}}.Encode()
	}
	c.render(w, r, s, http.StatusOK, "cases", "Case reference search", d)
	return nil
}
