package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

type complianceRow struct {
	ID, Hostname, User string
	Since              time.Time
	State              store.State
	HasState           bool
}

type complianceData struct {
	At                          string
	When                        time.Time
	Rows                        []complianceRow
	Compliant, NonCompliant, No int
	CSV                         string
	Error                       string
}

// compliance shows every device's state at a time: ?at=.
func (c *Console) compliance(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := complianceData{At: strings.TrimSpace(q.Get("at"))}
	if d.At == "" {
		c.render(w, r, s, http.StatusOK, "compliance", "Compliance at a time", d)
		return nil
	}
	at, err := present.ParseTime(d.At)
	if err != nil {
		d.Error = err.Error()
		c.render(w, r, s, http.StatusBadRequest, "compliance", "Compliance at a time", d)
		return nil
	}
	d.When = at
	states, err := c.cfg.Store.StatesAt(ctx, at)
	if err != nil {
		return err
	}
	byID := make(map[string]store.StateChange, len(states))
	for _, sc := range states {
		byID[sc.DeviceID] = sc
	}
	rows, err := c.cfg.Store.Devices(ctx)
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.EnrolledAt.After(at) {
			continue
		}
		cr := complianceRow{ID: row.ID, Hostname: row.Hostname, User: row.User}
		if sc, ok := byID[row.ID]; ok {
			cr.Since, cr.State, cr.HasState = sc.At, sc.State, true
		}
		switch {
		case !cr.HasState:
			d.No++
		case cr.State.Compliant:
			d.Compliant++
		default:
			d.NonCompliant++
		}
		d.Rows = append(d.Rows, cr)
	}
	// Non-compliant first, then by hostname.
	slices.SortStableFunc(d.Rows, func(x, y complianceRow) int {
		rank := func(r complianceRow) int {
			switch {
			case r.HasState && !r.State.Compliant:
				return 0
			case !r.HasState:
				return 1
			}
			return 2
		}
		return cmp.Or(cmp.Compare(rank(x), rank(y)), strings.Compare(x.Hostname, y.Hostname))
	})
	if q.Get("format") == "csv" {
		header := []string{"device_id", "hostname", "user", "state_since", "compliant", "plaintext_files", "sealed_files", "disk_encryption", "policy_version"}
		return present.TableOf(header, d.Rows, func(cr complianceRow) []string {
			if !cr.HasState {
				return []string{cr.ID, cr.Hostname, cr.User, "", "", "", "", "", ""}
			}
			return []string{cr.ID, cr.Hostname, cr.User, present.Time(cr.Since), strconv.FormatBool(cr.State.Compliant),
				strconv.FormatInt(cr.State.PlaintextFiles, 10), strconv.FormatInt(cr.State.SealedFiles, 10), cr.State.DiskEncryption, strconv.Itoa(cr.State.PolicyVersion)}
		}).WriteCSV(w, "compliance-"+at.Format("20060102T1504Z"))
	}
	d.CSV = Prefix + "compliance?" + url.Values{"at": {present.Time(at)}, "format": {"csv"}}.Encode()
	c.render(w, r, s, http.StatusOK, "compliance", "Compliance at a time", d)
	return nil
}
