package console

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server/internal/present"
)

// listLimit bounds the rows of a search, a timeline or the audit log
// shown on one page.
const listLimit = 1000

// timelineDays is how far back a device page's timeline goes.
const timelineDays = 30

// hostnames maps device IDs to hostnames.
func (c *Console) hostnames(ctx context.Context) (map[string]string, error) {
	rows, err := c.cfg.Store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(rows))
	for _, r := range rows {
		m[r.ID] = r.Hostname
	}
	return m, nil
}

// lossTimes reads the times of loss and discovery a form or a query
// gives (lost_at, discovered_at; either may be empty), and for one it
// cannot read, says which ("loss" or "discovery") and why.
func lossTimes(v url.Values, lostAt, discoveredAt *time.Time) (string, error) {
	for _, p := range []struct {
		name, what string
		dst        *time.Time
	}{{"lost_at", "loss", lostAt}, {"discovered_at", "discovery", discoveredAt}} {
		if s := strings.TrimSpace(v.Get(p.name)); s != "" {
			t, err := present.ParseTime(s)
			if err != nil {
				return p.what, err
			}
			*p.dst = t
		}
	}
	return "", nil
}

// timeRange reads ?from= and ?to= (default: the last 30 days).
func (c *Console) timeRange(q url.Values) (from, to time.Time, err error) {
	to = c.cfg.Now().Add(time.Second)
	if v := strings.TrimSpace(q.Get("to")); v != "" {
		if to, err = present.ParseTime(v); err != nil {
			return from, to, bad("To: %v", err)
		}
	}
	from = to.Add(-timelineDays * 24 * time.Hour)
	if v := strings.TrimSpace(q.Get("from")); v != "" {
		if from, err = present.ParseTime(v); err != nil {
			return from, to, bad("From: %v", err)
		}
	}
	if !from.Before(to) {
		return from, to, bad("From must be before to.")
	}
	return from, to, nil
}
