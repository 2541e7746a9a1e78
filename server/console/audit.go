package console

import (
	"net/http"
	"net/url"

	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

type auditData struct {
	From, To string
	Entries  []store.AuditEntry
	Full     bool
	CSV      string
	Error    string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	from, to, err := c.timeRange(q)
	d := auditData{From: present.Time(from), To: present.Time(to)}
	if err != nil {
		d.From, d.To, d.Error = q.Get("from"), q.Get("to"), err.Error()
		c.render(w, r, s, http.StatusBadRequest, "audit", "Audit log", d)
		return nil
	}
	if d.Entries, err = c.cfg.Store.AuditLog(r.Context(), from, to, listLimit); err != nil {
		return err
	}
	d.Full = len(d.Entries) >= listLimit
	if q.Get("format") == "csv" {
		return present.TableOf(actions.AuditColumns, d.Entries, actions.AuditCells).WriteCSV(w, "audit")
	}
	d.CSV = Prefix + "audit?" + url.Values{"from": {d.From}, "to": {d.To}, "format": {"csv"}}.Encode()
	c.render(w, r, s, http.StatusOK, "audit", "Audit log", d)
	return nil
}
