package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

// Prefix is where the API is served.
const Prefix = "/api/v1/"

// maxBody bounds a request body.
const maxBody = 64 << 10

// Config is what the API needs. Store is required.
type Config struct {
	Store store.Store
	// Policy returns the policy in force, for liveness; nil (or an error)
	// makes liveness "unknown".
	Policy server.PolicyFunc
	Logger *slog.Logger
	Now    func() time.Time
}

// API serves /api/v1/.
type API struct {
	cfg   Config
	guard *access.Guard
	act   *actions.Actions
	log   *slog.Logger
}

// New makes the API.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &API{cfg: cfg, log: cfg.Logger, guard: &access.Guard{Store: cfg.Store, Logger: cfg.Logger},
		act: &actions.Actions{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger}}, nil
}

// RoutesOf lists the API's routes as "METHOD /path" patterns, for the
// OpenAPI check.
func RoutesOf() []string {
	var out []string
	for _, r := range (&API{}).routes() {
		out = append(out, r.pattern)
	}
	return out
}

type route struct {
	pattern string
	perm    access.Permission
	h       func(http.ResponseWriter, *http.Request) error
}

func (a *API) routes() []route {
	return []route{
		{"GET /api/v1/devices", access.Read, a.devices},
		{"GET /api/v1/devices/{id}", access.Read, a.device},
		{"GET /api/v1/devices/{id}/timeline", access.Read, a.ofDevice(a.timeline)},
		{"GET /api/v1/devices/{id}/case-refs", access.Read, a.ofDevice(a.caseRefs)},
		{"GET /api/v1/devices/{id}/leases", access.Read, a.ofDevice(a.leases)},
		{"GET /api/v1/devices/{id}/commands", access.Read, a.ofDevice(a.commands)},
		{"POST /api/v1/devices/{id}/lost", access.Act, a.markLost},
		{"POST /api/v1/devices/{id}/found", access.Act, a.found},
		{"POST /api/v1/devices/{id}/wipe", access.Act, a.command(a.act.RequestWipe)},
		{"POST /api/v1/devices/{id}/lock", access.Act, a.command(a.act.Lock)},
		{"POST /api/v1/devices/{id}/unlock", access.Act, a.command(a.act.Unlock)},
		{"POST /api/v1/devices/{id}/commands/{cid}/cancel", access.Act, a.cancel},
		{"POST /api/v1/devices/{id}/lease/rotate", access.Act, a.rotate},
		{"POST /api/v1/devices/{id}/decision", access.Decide, a.decision},
		{"GET /api/v1/devices/{id}/assessment", access.Decide, a.assessment},
		{"GET /api/v1/cases/{ref}/devices", access.Read, a.caseDevices},
		{"GET /api/v1/events", access.Read, a.events},
		{"GET /api/v1/audit", access.Read, a.audit},
		{"POST /api/v1/tokens", access.Admin, a.createToken},
	}
}

// Handler returns the handler for /api/v1/.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range a.routes() {
		h := r.h
		mux.Handle(r.pattern, a.guard.Require(r.perm, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			if err := h(w, req); err != nil {
				a.fail(w, req, err)
			}
		})))
	}
	return mux
}

// statusError is an error with the HTTP status to answer it with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &statusError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *statusError
	var fe *actions.FieldError
	switch {
	case errors.As(err, &se):
		writeJSON(w, se.status, map[string]string{"error": se.msg})
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fe.Error()})
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	case errors.Is(err, store.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		a.log.Error("api request failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// readJSON decodes a bounded request body, refusing unknown fields.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bad("the request body is not the JSON expected: %v", err)
	}
	return nil
}

// writeList answers list as JSON (an array, [] if empty) or, with
// ?format=csv, as a CSV download named name: the columns header, and a row
// of cells for each item.
func writeList[T any](w http.ResponseWriter, r *http.Request, name string, list []T, header []string, cells func(T) []string) error {
	switch r.URL.Query().Get("format") {
	case "", "json":
		if list == nil {
			list = []T{}
		}
		writeJSON(w, http.StatusOK, list)
		return nil
	case "csv":
		return present.TableOf(header, list, cells).WriteCSV(w, name)
	}
	return bad("format must be json or csv")
}

// DeviceView is a device and its latest state, as the API shows it.
type DeviceView struct {
	ID         string    `json:"id"`
	Hostname   string    `json:"hostname"`
	User       string    `json:"user"`
	OS         string    `json:"os"`
	Serial     string    `json:"serial,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	Revoked    bool      `json:"revoked,omitempty"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	Liveness   string    `json:"liveness"`
	// Silent: offline or missing, and the last heartbeat did not say the
	// agent was stopping: the device went quiet without saying so.
	Silent         bool   `json:"silent"`
	Compliant      bool   `json:"compliant"`
	PlaintextFiles int64  `json:"plaintext_files"`
	SealedFiles    int64  `json:"sealed_files"`
	SealedBytes    int64  `json:"sealed_bytes"`
	CaseRefs       int    `json:"case_refs"`
	DiskEncryption string `json:"disk_encryption"`
	PolicyVersion  int    `json:"policy_version"`
	AgentVersion   string `json:"agent_version"`
	// Lease is the state of the vault key the device reported (unlocked,
	// offline, locked, wiped, plaintext, none); OfflineCopy how it said
	// its local copy of the lease is held (tpm, os, none).
	Lease       string `json:"lease"`
	OfflineCopy string `json:"offline_copy"`
	// LeaseServedAt is when the server last served it a lease, and
	// LeaseUntil until when that lease lets it open its vault without
	// the server; absent if none was served (or in a list at a time).
	LeaseServedAt time.Time `json:"lease_served_at,omitzero"`
	LeaseUntil    time.Time `json:"lease_until,omitzero"`
	// Agent is what the agent said about stopping; absent from a list
	// of states at a time (?at=), which the history does not record.
	Agent *AgentView `json:"agent,omitempty"`

	device server.Device // for the CSV
}

// AgentView is what a device's agent said, or showed, about stopping.
type AgentView struct {
	// State is "running" (its last heartbeat did not say it was
	// stopping), "stopped" (its service was stopped), "shutdown" (the
	// computer was shutting down), "removed" (casekeep was being
	// uninstalled), or "never" (it has not reported).
	State string `json:"state"`
	// Since is when the agent made the heartbeat that said it was
	// stopping; absent while it runs.
	Since time.Time `json:"since,omitzero"`
	// UnannouncedStops counts the runs that ended without saying so
	// (killed, crashed, the power lost); LastUnannouncedStop is when the
	// latest such run was last known alive.
	UnannouncedStops    int64     `json:"unannounced_stops"`
	LastUnannouncedStop time.Time `json:"last_unannounced_stop,omitzero"`
}

func view(d server.Device) DeviceView {
	st := d.State
	v := DeviceView{
		ID: d.ID, Hostname: d.Hostname, User: d.User, OS: d.OS, Serial: d.Serial, EnrolledAt: d.EnrolledAt,
		Revoked: d.Revoked(), LastSeen: st.ReceivedAt, Liveness: string(d.Liveness), Silent: d.Status.Silent,
		Compliant: st.Compliant, PlaintextFiles: st.PlaintextFiles, SealedFiles: st.SealedFiles,
		SealedBytes: st.SealedBytes, CaseRefs: st.CaseRefs, DiskEncryption: st.DiskEncryption,
		PolicyVersion: st.PolicyVersion, AgentVersion: st.AgentVersion, Lease: st.Lease, OfflineCopy: st.OfflineCopy,
		device: d,
	}
	if !d.Then { // what the agent said then, and the leases served, are not known
		a := d.Status
		v.LeaseServedAt, v.LeaseUntil = d.Lease.At, d.Lease.Until
		v.Agent = &AgentView{State: string(a.State), Since: a.Since, UnannouncedStops: a.UnannouncedStops,
			LastUnannouncedStop: a.LastUnannouncedStop}
	}
	return v
}

// devices lists the fleet: ?liveness=online|offline|missing|never,
// ?compliant=true|false, ?plaintext=true (holding plaintext),
// ?policy_version=N, ?user=NAME,
// ?agent=running|stopped|shutdown|removed|silent|unannounced.
func (a *API) devices(w http.ResponseWriter, r *http.Request) error {
	ctx, q := r.Context(), r.URL.Query()
	keep, err := server.DeviceFilter{Liveness: q.Get("liveness"), Compliant: q.Get("compliant"), Plaintext: q.Get("plaintext"),
		PolicyVersion: q.Get("policy_version"), User: q.Get("user"), Agent: q.Get("agent")}.Match()
	if err != nil {
		return bad("%v", err)
	}
	if q.Get("agent") != "" && q.Get("at") != "" {
		return bad("agent cannot be combined with at: the state history does not record what the agent said about stopping")
	}
	rows, err := a.cfg.Store.Devices(ctx)
	if err != nil {
		return err
	}
	devs := make([]server.Device, 0, len(rows))
	if v := q.Get("at"); v != "" {
		// Compliance at a time: each device's state then, from the state
		// history. The history records changes, not every heartbeat: when
		// a device was last heard from before 'at' is not known from it,
		// so liveness then is "unknown" (and last_seen is when that state
		// began).
		at, err := present.ParseTime(v)
		if err != nil {
			return bad("at: %v", err)
		}
		states, err := a.cfg.Store.StatesAt(ctx, at)
		if err != nil {
			return err
		}
		byID := make(map[string]store.State, len(states))
		for _, sc := range states {
			byID[sc.DeviceID] = sc.State
		}
		for _, row := range rows {
			if !row.EnrolledAt.After(at) { // else not enrolled yet
				devs = append(devs, server.DeviceThen(row, byID[row.ID]))
			}
		}
	} else {
		p, now := a.cfg.Policy.InForce(ctx), a.cfg.Now()
		for _, row := range rows {
			devs = append(devs, server.DeviceOf(row, p, now))
		}
	}
	devs = slices.DeleteFunc(devs, func(d server.Device) bool { return !keep(d) })
	out := []DeviceView{}
	for _, d := range devs {
		out = append(out, view(d))
	}
	return writeList(w, r, "devices", out, server.DeviceColumns, func(v DeviceView) []string { return v.device.Cells() })
}

// DeviceDetail is one device with the actions taken on it.
type DeviceDetail struct {
	DeviceView
	Lost      []store.LostReport `json:"lost"`
	Commands  []CommandView      `json:"commands"`
	Decisions []store.Decision   `json:"decisions"`
	// LeaseKeys are its lease keys (never their bytes): current, next
	// (a rotation waiting for the agent) and retired, with when each was
	// destroyed.
	LeaseKeys []LeaseKeyView `json:"lease_keys"`
}

func (a *API) device(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	row, err := a.cfg.Store.Device(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := DeviceDetail{DeviceView: view(server.DeviceOf(row, a.cfg.Policy.InForce(ctx), a.cfg.Now()))}
	if d.Lost, err = a.cfg.Store.LostReports(ctx, row.ID); err != nil {
		return err
	}
	cmds, err := a.cfg.Store.Commands(ctx, row.ID)
	if err != nil {
		return err
	}
	d.Commands = a.commandViews(cmds)
	keys, err := a.cfg.Store.LeaseKeys(ctx, row.ID)
	if err != nil {
		return err
	}
	d.LeaseKeys = []LeaseKeyView{}
	for _, k := range keys {
		d.LeaseKeys = append(d.LeaseKeys, LeaseKeyView{ID: k.ID, State: k.State, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt, DestroyedAt: k.DestroyedAt})
	}
	if d.Decisions, err = a.cfg.Store.Decisions(ctx, row.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// TimelineEntry is a state change or an event.
type TimelineEntry struct {
	Time    time.Time    `json:"time"`
	Kind    string       `json:"kind"` // "state" or "event"
	State   *store.State `json:"state,omitempty"`
	Type    string       `json:"type,omitempty"`
	CaseRef string       `json:"case_ref,omitempty"`
	Detail  string       `json:"detail,omitempty"`
}

// ofDevice serves a GET of what the store holds about one device: h gets
// the ID of the device the path names, once the store knows it (else
// store.ErrNotFound, a 404).
func (a *API) ofDevice(h func(w http.ResponseWriter, r *http.Request, id string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if _, err := a.cfg.Store.Device(r.Context(), id); err != nil {
			return err
		}
		return h(w, r, id)
	}
}

// limit reads ?limit=, how many entries to answer with at the most: 1 to
// most, 1000 if not given.
func limit(r *http.Request, most int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, bad("limit must be 1 to %d", most)
	}
	return n, nil
}

// timeRange reads ?from= and ?to= (RFC 3339; default the last 30 days).
func (a *API) timeRange(r *http.Request) (time.Time, time.Time, error) {
	to, from := a.cfg.Now().Add(time.Second), time.Time{}
	q := r.URL.Query()
	if v := q.Get("to"); v != "" {
		t, err := present.ParseTime(v)
		if err != nil {
			return from, to, bad("to: %v", err)
		}
		to = t
	}
	from = to.Add(-30 * 24 * time.Hour)
	if v := q.Get("from"); v != "" {
		t, err := present.ParseTime(v)
		if err != nil {
			return from, to, bad("from: %v", err)
		}
		from = t
	}
	if !from.Before(to) {
		return from, to, bad("from must be before to")
	}
	return from, to, nil
}

func (a *API) timeline(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	from, to, err := a.timeRange(r)
	if err != nil {
		return err
	}
	changes, err := a.cfg.Store.StateChanges(ctx, id, from, to)
	if err != nil {
		return err
	}
	events, err := a.cfg.Store.Events(ctx, id, from, to)
	if err != nil {
		return err
	}
	out := make([]TimelineEntry, 0, len(changes)+len(events))
	for _, c := range changes {
		st := c.State
		out = append(out, TimelineEntry{Time: c.At, Kind: "state", State: &st})
	}
	for _, e := range events {
		out = append(out, TimelineEntry{Time: e.Time, Kind: "event", Type: e.Type, CaseRef: e.CaseRef, Detail: e.Detail})
	}
	slices.SortStableFunc(out, func(x, y TimelineEntry) int { return x.Time.Compare(y.Time) })
	header := []string{"time", "kind", "type", "case_ref", "detail", "compliant", "plaintext_files", "sealed_files", "disk_encryption"}
	return writeList(w, r, "timeline-"+id, out, header, func(e TimelineEntry) []string {
		row := []string{present.Time(e.Time), e.Kind, e.Type, e.CaseRef, e.Detail, "", "", "", ""}
		if e.State != nil {
			row[5], row[6], row[7], row[8] = strconv.FormatBool(e.State.Compliant), strconv.FormatInt(e.State.PlaintextFiles, 10),
				strconv.FormatInt(e.State.SealedFiles, 10), e.State.DiskEncryption
		}
		return row
	})
}

func (a *API) caseRefs(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	hs, err := a.cfg.Store.Holdings(ctx, id)
	if err != nil {
		return err
	}
	return writeList(w, r, "case-refs-"+id, hs, []string{"case_ref", "first_seen", "last_seen", "files", "held"}, func(h store.Holding) []string {
		return []string{h.Ref, present.Time(h.FirstSeen), present.Time(h.LastSeen), strconv.Itoa(h.Files), strconv.FormatBool(h.Held)}
	})
}

// LostRequest is the body of POST /devices/{id}/lost.
type LostRequest struct {
	LostAt       time.Time `json:"lost_at"`
	DiscoveredAt time.Time `json:"discovered_at"`
	Note         string    `json:"note"`
}

// who is the name of the person making the request.
func who(r *http.Request) string {
	p, _ := access.From(r.Context())
	return p.User.Name
}

func (a *API) markLost(w http.ResponseWriter, r *http.Request) error {
	var req LostRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	rep, err := a.act.MarkLost(r.Context(), who(r), r.PathValue("id"), actions.Lost{LostAt: req.LostAt, DiscoveredAt: req.DiscoveredAt, Note: req.Note})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rep)
	return nil
}

// DecisionRequest is the body of POST /devices/{id}/decision.
type DecisionRequest struct {
	Notify  *bool  `json:"notify"`
	Reasons string `json:"reasons"`
}

func (a *API) decision(w http.ResponseWriter, r *http.Request) error {
	var req DecisionRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	d, err := a.act.RecordDecision(r.Context(), who(r), r.PathValue("id"), actions.Decision{Notify: req.Notify, Reasons: req.Reasons})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (a *API) audit(w http.ResponseWriter, r *http.Request) error {
	from, to, err := a.timeRange(r)
	if err != nil {
		return err
	}
	entries, err := a.cfg.Store.AuditLog(r.Context(), from, to, 10_000)
	if err != nil {
		return err
	}
	return writeList(w, r, "audit", entries, actions.AuditColumns, actions.AuditCells)
}

// TokenRequest is the body of POST /tokens.
type TokenRequest struct {
	User string `json:"user"`
	Note string `json:"note"`
}

// TokenReply carries a new token, shown once.
type TokenReply struct {
	Token string `json:"token"`
	ID    string `json:"id"`
	User  string `json:"user"`
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req TokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	tok, rec, err := a.act.CreateToken(r.Context(), who(r), req.User, req.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TokenReply{Token: tok, ID: rec.ID, User: rec.User})
	return nil
}

func (a *API) caseDevices(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("ref")
	hs, err := a.cfg.Store.CaseHolders(r.Context(), ref)
	if err != nil {
		return err
	}
	header := []string{"device_id", "case_ref", "first_seen", "last_seen", "files", "held"}
	return writeList(w, r, "case-"+ref, hs, header, func(h store.Holding) []string {
		return []string{h.DeviceID, h.Ref, present.Time(h.FirstSeen), present.Time(h.LastSeen), strconv.Itoa(h.Files), strconv.FormatBool(h.Held)}
	})
}

// events searches events across the fleet: ?type= (a prefix if it ends
// in "."), ?device=, ?case_ref=, ?from=, ?to=, ?limit=.
func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	from, to, err := a.timeRange(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.EventFilter{DeviceID: q.Get("device"), Type: q.Get("type"), CaseRef: q.Get("case_ref"), From: from, To: to}
	if f.Limit, err = limit(r, 10_000); err != nil {
		return err
	}
	evs, err := a.cfg.Store.SearchEvents(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, r, "events", evs, []string{"time", "device_id", "type", "case_ref", "detail"}, func(e store.Event) []string {
		return []string{present.Time(e.Time), e.DeviceID, e.Type, e.CaseRef, e.Detail}
	})
}

// assessment is the lost-device assessment: ?lost_at= and ?discovered_at=
// (default: the latest lost report's), ?format=json|csv|html.
func (a *API) assessment(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	in := assess.Input{DeviceID: r.PathValue("id")}
	for name, dst := range map[string]*time.Time{"lost_at": &in.LostAt, "discovered_at": &in.DiscoveredAt} {
		if v := q.Get(name); v != "" {
			t, err := present.ParseTime(v)
			if err != nil {
				return bad("%s: %v", name, err)
			}
			*dst = t
		}
	}
	format := q.Get("format")
	if !slices.Contains([]string{"", "json", "csv", "html"}, format) {
		return bad("format must be json, csv or html")
	}
	as, err := a.act.ViewAssessment(r.Context(), who(r), in, format)
	if errors.Is(err, assess.ErrNoLossTime) {
		return bad("%v", err)
	}
	if err != nil {
		return err
	}
	switch format {
	case "", "json":
		writeJSON(w, http.StatusOK, as)
		return nil
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="assessment-`+present.FileName(in.DeviceID)+`.csv"`)
		return as.WriteCSV(w)
	default: // html
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		return as.WriteHTML(w)
	}
}
