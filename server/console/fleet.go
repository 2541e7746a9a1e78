package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
)

// count is a number on the fleet page, with the list it counts.
type count struct {
	Key   string
	Label string
	N     int
	Link  string
}

// attention is a device to look at first, and why.
type attention struct {
	server.Device
	Reasons []string
	rank    int
}

type fleetData struct {
	Total, Revoked int
	Liveness       []count
	Compliance     []count
	Agents         []count
	Attention      []attention
	More           int
	PolicyVersion  int
}

// attentionShown bounds the fleet page's list of devices to look at.
const attentionShown = 100

func (c *Console) fleet(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	rows, err := c.cfg.Store.Devices(ctx)
	if err != nil {
		return err
	}
	lost, err := c.lostDevices(ctx, rows)
	if err != nil {
		return err
	}
	p, now := c.cfg.Policy.InForce(ctx), c.cfg.Now()
	d := fleetData{}
	if p != nil {
		d.PolicyVersion = p.Version
	}
	live, agents := map[string]int{}, map[string]int{}
	var compliant, non, unreported int
	for _, row := range rows {
		v := server.DeviceOf(row, p, now)
		if v.Revoked() {
			d.Revoked++
			continue
		}
		d.Total++
		live[string(v.Liveness)]++
		switch {
		case !v.Reported():
			unreported++
		case v.State.Compliant:
			compliant++
		default:
			non++
		}
		for _, f := range server.AgentFilters {
			if v.Status.Matches(f) {
				agents[f]++
			}
		}
		a := attention{Device: v, rank: 5}
		reason := func(rank int, why string) {
			a.Reasons = append(a.Reasons, why)
			a.rank = min(a.rank, rank)
		}
		if n := v.State.PlaintextFiles; n > 0 {
			reason(0, fmt.Sprintf("%d plaintext file%s", n, plural(n)))
		}
		if v.Reported() && !v.State.Compliant {
			reason(1, "non-compliant")
		}
		if v.Liveness == server.Missing {
			reason(2, "missing")
		}
		if v.Status.State == server.AgentRemoved {
			reason(2, "the agent said it was being removed")
		}
		if lost[v.ID] {
			reason(3, "marked lost")
		}
		// Quiet without a word: only once missing. An offline laptop is
		// usually asleep with its lid shut, which the agent cannot announce.
		if v.Status.Silent && v.Liveness == server.Missing {
			reason(4, "went quiet without saying it was stopping")
		}
		// Stops without a word in the last 30 days: one long ago is on
		// the device page, and in the list of devices with ?agent=unannounced.
		if n := v.Status.UnannouncedStops; n > 0 && v.Status.LastUnannouncedStop.After(now.Add(-timelineDays*24*time.Hour)) {
			reason(4, "the agent stopped "+times(n)+" without saying so")
		}
		if len(a.Reasons) > 0 {
			d.Attention = append(d.Attention, a)
		}
	}
	for _, l := range []string{"online", "offline", "missing", "never"} {
		d.Liveness = append(d.Liveness, count{l, l, live[l], Prefix + "devices?liveness=" + l})
	}
	if n := live["unknown"]; n > 0 {
		d.Liveness = append(d.Liveness, count{"unknown", "unknown (no policy)", n, Prefix + "devices?liveness=unknown"})
	}
	for _, f := range agentFilters {
		d.Agents = append(d.Agents, count{f.Value, f.Label, agents[f.Value], Prefix + "devices?agent=" + f.Value})
	}
	d.Compliance = []count{
		{"compliant", "compliant", compliant, Prefix + "devices?compliant=true"},
		{"non-compliant", "non-compliant", non, Prefix + "devices?compliant=false"},
		{"unreported", "not yet reported", unreported, Prefix + "devices?liveness=never"},
	}
	slices.SortStableFunc(d.Attention, func(x, y attention) int {
		return cmp.Or(cmp.Compare(x.rank, y.rank), cmp.Compare(y.State.PlaintextFiles, x.State.PlaintextFiles), strings.Compare(x.Hostname, y.Hostname))
	})
	if len(d.Attention) > attentionShown {
		d.More = len(d.Attention) - attentionShown
		d.Attention = d.Attention[:attentionShown]
	}
	c.render(w, r, s, http.StatusOK, "fleet", "Fleet", d)
	return nil
}

// times says how many times: "once", "twice", "3 times".
func times(n int64) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.FormatInt(n, 10) + " times"
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// lostDevices says which devices have a lost report.
func (c *Console) lostDevices(ctx context.Context, rows []store.DeviceRow) (map[string]bool, error) {
	revoked := map[string]bool{}
	for _, row := range rows {
		if !row.RevokedAt.IsZero() {
			revoked[row.ID] = true
		}
	}
	reps, err := c.cfg.Store.LostReports(ctx, "") // every device's, in one query
	if err != nil {
		return nil, err
	}
	lost := map[string]bool{}
	for _, r := range reps {
		if !revoked[r.DeviceID] {
			lost[r.DeviceID] = true
		}
	}
	return lost, nil
}
