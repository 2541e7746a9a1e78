package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

// listLimit bounds the rows of a search, a timeline or the audit log
// shown on one page.
const listLimit = 1000

// timelineDays is how far back a device page's timeline goes.
const timelineDays = 30

func (c *Console) policy(ctx context.Context) *policy.Policy {
	if c.cfg.Policy == nil {
		return nil
	}
	p, err := c.cfg.Policy(ctx)
	if err != nil {
		return nil
	}
	return p
}

// deviceView is a device, its latest state, its liveness and what its
// agent said about stopping.
type deviceView struct {
	store.DeviceRow
	Liveness string
	Revoked  bool
	Reported bool // it has sent a heartbeat
	Status   server.AgentStatus
}

func viewOf(r store.DeviceRow, p *policy.Policy, now time.Time) deviceView {
	live := "unknown"
	if p != nil {
		live = string(server.LivenessOf(r.State.ReceivedAt, now, p))
	}
	return deviceView{DeviceRow: r, Liveness: live, Revoked: !r.RevokedAt.IsZero(), Reported: !r.State.ReceivedAt.IsZero(),
		Status: server.AgentStatusOf(r, server.Liveness(live))}
}

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

// count is a number on the fleet page, with the list it counts.
type count struct {
	Key   string
	Label string
	N     int
	Link  string
}

// attention is a device to look at first, and why.
type attention struct {
	deviceView
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
	p, now := c.policy(ctx), c.cfg.Now()
	d := fleetData{}
	if p != nil {
		d.PolicyVersion = p.Version
	}
	live, agents := map[string]int{}, map[string]int{}
	var compliant, non, unreported int
	for _, row := range rows {
		v := viewOf(row, p, now)
		if v.Revoked {
			d.Revoked++
			continue
		}
		d.Total++
		live[v.Liveness]++
		switch {
		case !v.Reported:
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
		a := attention{deviceView: v, rank: 5}
		reason := func(rank int, why string) {
			a.Reasons = append(a.Reasons, why)
			a.rank = min(a.rank, rank)
		}
		if n := v.State.PlaintextFiles; n > 0 {
			reason(0, fmt.Sprintf("%d plaintext file%s", n, plural(n)))
		}
		if v.Reported && !v.State.Compliant {
			reason(1, "non-compliant")
		}
		if v.Liveness == string(server.Missing) {
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
		if v.Status.Silent && v.Liveness == string(server.Missing) {
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

// timelineEntry is a state change or an event.
type timelineEntry struct {
	Time  time.Time
	State *store.State
	Event *store.Event
}

type deviceData struct {
	D         deviceView
	Holdings  []store.Holding
	Lost      []store.LostReport
	Wipes     []store.WipeRequest
	Decisions []store.Decision
	Gaps      []store.ChainGap
	Timeline  []timelineEntry
	More      int
	From      time.Time
	Flash     string
	Error     string
	Form      url.Values // what a refused form sent, to show again
	// The assessment form's defaults: the latest lost report's times.
	AssessLostAt, AssessDiscoveredAt time.Time
}

func (c *Console) device(w http.ResponseWriter, r *http.Request, s *session) error {
	flash := map[string]string{
		"lost":     "The device is marked lost.",
		"wipe":     "A wipe is requested. It stays pending until the device's agent acknowledges it.",
		"decision": "The decision is recorded.",
	}[r.URL.Query().Get("done")]
	return c.showDevice(w, r, s, http.StatusOK, flash, "", nil)
}

func (c *Console) showDevice(w http.ResponseWriter, r *http.Request, s *session, status int, flash, formErr string, form url.Values) error {
	ctx := r.Context()
	id := r.PathValue("id")
	row, err := c.cfg.Store.Device(ctx, id)
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	d := deviceData{D: viewOf(row, c.policy(ctx), now), Flash: flash, Error: formErr, Form: form, From: now.Add(-timelineDays * 24 * time.Hour)}
	if d.Holdings, err = c.cfg.Store.Holdings(ctx, id); err != nil {
		return err
	}
	if d.Lost, err = c.cfg.Store.LostReports(ctx, id); err != nil {
		return err
	}
	if d.Wipes, err = c.cfg.Store.WipeRequests(ctx, id); err != nil {
		return err
	}
	if d.Decisions, err = c.cfg.Store.Decisions(ctx, id); err != nil {
		return err
	}
	if d.Gaps, err = c.cfg.Store.Gaps(ctx, id); err != nil {
		return err
	}
	if n := len(d.Lost); n > 0 {
		d.AssessLostAt, d.AssessDiscoveredAt = d.Lost[n-1].LostAt, d.Lost[n-1].DiscoveredAt
	}
	to := now.Add(time.Second)
	changes, err := c.cfg.Store.StateChanges(ctx, id, d.From, to)
	if err != nil {
		return err
	}
	events, err := c.cfg.Store.Events(ctx, id, d.From, to)
	if err != nil {
		return err
	}
	for i := range changes {
		d.Timeline = append(d.Timeline, timelineEntry{Time: changes[i].At, State: &changes[i].State})
	}
	for i := range events {
		d.Timeline = append(d.Timeline, timelineEntry{Time: events[i].Time, Event: &events[i]})
	}
	// Newest first.
	slices.SortStableFunc(d.Timeline, func(x, y timelineEntry) int { return y.Time.Compare(x.Time) })
	if len(d.Timeline) > listLimit {
		d.More = len(d.Timeline) - listLimit
		d.Timeline = d.Timeline[:listLimit]
	}
	c.render(w, r, s, status, "device", row.Hostname, d)
	return nil
}

func (c *Console) done(w http.ResponseWriter, r *http.Request, what string) error {
	http.Redirect(w, r, Prefix+"devices/"+url.PathEscape(r.PathValue("id"))+"?done="+what, http.StatusSeeOther)
	return nil
}

// markLost records a lost report from the device page's form.
func (c *Console) markLost(w http.ResponseWriter, r *http.Request, s *session) error {
	f := r.PostForm
	in := actions.Lost{Note: f.Get("note")}
	for _, p := range []struct {
		name, what string
		dst        *time.Time
	}{{"lost_at", "Time of loss", &in.LostAt}, {"discovered_at", "Time of discovery", &in.DiscoveredAt}} {
		if v := strings.TrimSpace(f.Get(p.name)); v != "" {
			t, err := present.ParseTime(v)
			if err != nil {
				return c.showDevice(w, r, s, http.StatusBadRequest, "", p.what+": "+err.Error(), f)
			}
			*p.dst = t
		}
	}
	if _, err := c.act.MarkLost(r.Context(), s.who.User.Name, r.PathValue("id"), in); err != nil {
		return c.refused(w, r, s, err)
	}
	return c.done(w, r, "lost")
}

func (c *Console) wipe(w http.ResponseWriter, r *http.Request, s *session) error {
	if r.PostForm.Get("confirm") != "yes" {
		return c.showDevice(w, r, s, http.StatusBadRequest, "", "Tick the box to confirm the wipe.", r.PostForm)
	}
	if _, err := c.act.RequestWipe(r.Context(), s.who.User.Name, r.PathValue("id")); err != nil {
		return c.refused(w, r, s, err)
	}
	return c.done(w, r, "wipe")
}

func (c *Console) decision(w http.ResponseWriter, r *http.Request, s *session) error {
	f := r.PostForm
	in := actions.Decision{Reasons: f.Get("reasons")}
	if v, ok := map[string]bool{"yes": true, "no": false}[f.Get("notify")]; ok {
		in.Notify = &v
	}
	if _, err := c.act.RecordDecision(r.Context(), s.who.User.Name, r.PathValue("id"), in); err != nil {
		return c.refused(w, r, s, err)
	}
	return c.done(w, r, "decision")
}

// refused shows the device page again with what a form sent and why the
// action refused it, or returns err if it is not about the form.
func (c *Console) refused(w http.ResponseWriter, r *http.Request, s *session, err error) error {
	var fe *actions.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	return c.showDevice(w, r, s, http.StatusBadRequest, "", formText(fe), r.PostForm)
}

// formTexts say in the console's words what is wrong with a device page's
// form, by the field and the kind of problem (nil: any).
var formTexts = []struct {
	field string
	kind  error
	text  string
}{
	{"lost_at", actions.ErrRequired, "Give the time the device was lost."},
	{"lost_at", actions.ErrFuture, "The times of loss and discovery must not be in the future."},
	{"discovered_at", actions.ErrFuture, "The times of loss and discovery must not be in the future."},
	{"discovered_at", actions.ErrOutOfOrder, "The loss cannot have been discovered before it happened."},
	{"note", actions.ErrTooLong, "The note is too long (" + present.Thousands(actions.MaxNote) + " characters at most)."},
	{"notify", nil, "Choose whether the ICO is to be notified."},
	{"reasons", actions.ErrNotText, "The reasons must be text, without control characters."},
	{"reasons", nil, "Give the reasons for the decision (" + present.Thousands(actions.MaxReasons) + " characters at most)."},
}

func formText(fe *actions.FieldError) string {
	for _, t := range formTexts {
		if t.field == fe.Field && (t.kind == nil || errors.Is(fe, t.kind)) {
			return t.text
		}
	}
	return "The " + strings.ReplaceAll(fe.Field, "_", " ") + " " + fe.Problem + "."
}

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
	for _, p := range []struct {
		name, what string
		dst        *time.Time
	}{{"lost_at", "time of loss", &in.LostAt}, {"discovered_at", "time of discovery", &in.DiscoveredAt}} {
		if v := strings.TrimSpace(q.Get(p.name)); v != "" {
			t, err := present.ParseTime(v)
			if err != nil {
				d.Message = "The " + p.what + ": " + err.Error()
				c.render(w, r, s, http.StatusBadRequest, "assessment", "Assessment: "+row.Hostname, d)
				return nil
			}
			*p.dst = t
		}
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
			t := present.Table{Header: []string{"device_id", "hostname", "case_ref", "first_seen", "last_seen", "files", "held"}}
			for _, h := range d.Holders {
				t.Rows = append(t.Rows, []string{h.DeviceID, h.Hostname, h.Ref, present.Time(h.FirstSeen), present.Time(h.LastSeen), strconv.Itoa(h.Files), strconv.FormatBool(h.Held)})
			}
			return t.WriteCSV(w, "case-"+d.Ref)
		}
		d.CSV = Prefix + "cases?" + url.Values{"ref": {d.Ref}, "format": {"csv"}}.Encode()
	}
	c.render(w, r, s, http.StatusOK, "cases", "Case reference search", d)
	return nil
}

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
		t := present.Table{Header: []string{"device_id", "hostname", "user", "state_since", "compliant", "plaintext_files", "sealed_files", "disk_encryption", "policy_version"}}
		for _, cr := range d.Rows {
			if !cr.HasState {
				t.Rows = append(t.Rows, []string{cr.ID, cr.Hostname, cr.User, "", "", "", "", "", ""})
				continue
			}
			t.Rows = append(t.Rows, []string{cr.ID, cr.Hostname, cr.User, present.Time(cr.Since), strconv.FormatBool(cr.State.Compliant),
				strconv.FormatInt(cr.State.PlaintextFiles, 10), strconv.FormatInt(cr.State.SealedFiles, 10), cr.State.DiskEncryption, strconv.Itoa(cr.State.PolicyVersion)})
		}
		return t.WriteCSV(w, "compliance-"+at.Format("20060102T1504Z"))
	}
	d.CSV = Prefix + "compliance?" + url.Values{"at": {present.Time(at)}, "format": {"csv"}}.Encode()
	c.render(w, r, s, http.StatusOK, "compliance", "Compliance at a time", d)
	return nil
}

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
		t := present.Table{Header: []string{"time", "device_id", "hostname", "type", "case_ref", "detail"}}
		for _, e := range d.Events {
			t.Rows = append(t.Rows, []string{present.Time(e.Time), e.DeviceID, e.Hostname, e.Type, e.CaseRef, e.Detail})
		}
		return t.WriteCSV(w, "events")
	}
	q.Set("from", d.From)
	q.Set("to", d.To)
	q.Set("format", "csv")
	d.CSV = Prefix + "events?" + q.Encode()
	c.render(w, r, s, http.StatusOK, "events", "Event search", d)
	return nil
}

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
		t := present.Table{Header: []string{"id", "time", "actor", "action", "target", "detail"}}
		for _, e := range d.Entries {
			t.Rows = append(t.Rows, []string{strconv.FormatInt(e.ID, 10), present.Time(e.Time), e.Actor, e.Action, e.Target, e.Detail})
		}
		return t.WriteCSV(w, "audit")
	}
	d.CSV = Prefix + "audit?" + url.Values{"from": {d.From}, "to": {d.To}, "format": {"csv"}}.Encode()
	c.render(w, r, s, http.StatusOK, "audit", "Audit log", d)
	return nil
}
