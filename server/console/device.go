package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

// timelineEntry is a state change or an event.
type timelineEntry struct {
	Time  time.Time
	State *store.State
	Event *store.Event
}

type deviceData struct {
	D         server.Device
	Holdings  []store.Holding
	Lost      []store.LostReport
	Commands  []commandRow
	Decisions []store.Decision
	// Leases are the newest entries of the lease log, at most
	// leaseLimit; MoreLeases says there are older ones.
	Leases     []store.LeaseRecord
	MoreLeases bool
	// LostOpen: a lost report is open (the device is not marked found);
	// Locked: a lock is in force; Wiping: a wipe is requested.
	LostOpen, Locked, Wiping bool
	Gaps                     []store.ChainGap
	Timeline                 []timelineEntry
	More                     int
	From                     time.Time
	Flash                    string
	Error                    string
	Form                     url.Values // what a refused form sent, to show again
	// The assessment form's defaults: the latest lost report's times.
	AssessLostAt, AssessDiscoveredAt time.Time
}

// commandRow is a command as the device page shows it.
type commandRow struct {
	store.Command
	Status store.CommandStatus
	// Cancellable: not yet delivered, so it may still be cancelled.
	Cancellable bool
}

// leaseLimit bounds the lease log on the device page (the API has it all).
const leaseLimit = 50

func (c *Console) device(w http.ResponseWriter, r *http.Request, s *session) error {
	flash := map[string]string{
		"lost":     "The device is marked lost.",
		"found":    "The device is marked found: the server serves its lease again.",
		"unlocked": "The device is marked found: the server serves its lease again, and an unlock is requested for its agent.",
		"wipe":     "A wipe is requested. It stays pending until the device's agent acknowledges it.",
		"lock":     "A lock is requested: the server refuses the device its lease from now on, and its agent drops every copy of it at its next contact.",
		"unlock":   "An unlock is requested: the server serves the device its lease again, unless it is lost, wiped or revoked.",
		"cancel":   "The command is cancelled: it will not be delivered.",
		"decision": "The decision is recorded.",
		// Found while a wipe stands: the lease is not served again.
		"found-wipe-pending":   "The device is marked found. " + actions.FoundWipePending,
		"found-wipe-delivered": "The device is marked found. " + actions.FoundWipeDelivered,
		"found-wipe-done":      "The device is marked found. " + actions.FoundWipeDone,
		"found-wipe-failed":    "The device is marked found. " + actions.FoundWipeFailed,
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
	d := deviceData{D: server.DeviceOf(row, c.cfg.Policy.InForce(ctx), now), Flash: flash, Error: formErr, Form: form, From: now.Add(-timelineDays * 24 * time.Hour)}
	if d.Holdings, err = c.cfg.Store.Holdings(ctx, id); err != nil {
		return err
	}
	if d.Lost, err = c.cfg.Store.LostReports(ctx, id); err != nil {
		return err
	}
	cmds, err := c.cfg.Store.Commands(ctx, id)
	if err != nil {
		return err
	}
	for _, cmd := range cmds {
		st := cmd.Status(now)
		d.Commands = append(d.Commands, commandRow{Command: cmd, Status: st, Cancellable: st == store.StatusRequested})
	}
	d.Locked, d.Wiping = store.Locked(cmds), store.WipeRequested(cmds)
	for _, l := range d.Lost {
		d.LostOpen = d.LostOpen || l.FoundAt.IsZero()
	}
	if d.Leases, err = c.cfg.Store.Leases(ctx, id, time.Time{}, now.Add(time.Second), leaseLimit+1); err != nil {
		return err
	}
	if len(d.Leases) > leaseLimit {
		d.Leases, d.MoreLeases = d.Leases[:leaseLimit], true
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
	if what, err := lossTimes(f, &in.LostAt, &in.DiscoveredAt); err != nil {
		return c.showDevice(w, r, s, http.StatusBadRequest, "", "Time of "+what+": "+err.Error(), f)
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

func (c *Console) lock(w http.ResponseWriter, r *http.Request, s *session) error {
	if _, err := c.act.Lock(r.Context(), s.who.User.Name, r.PathValue("id")); err != nil {
		return c.refused(w, r, s, err)
	}
	return c.done(w, r, "lock")
}

func (c *Console) unlock(w http.ResponseWriter, r *http.Request, s *session) error {
	if _, err := c.act.Unlock(r.Context(), s.who.User.Name, r.PathValue("id")); err != nil {
		return c.refused(w, r, s, err)
	}
	return c.done(w, r, "unlock")
}

func (c *Console) found(w http.ResponseWriter, r *http.Request, s *session) error {
	res, err := c.act.MarkFound(r.Context(), s.who.User.Name, r.PathValue("id"))
	if errors.Is(err, store.ErrConflict) {
		return c.showDevice(w, r, s, http.StatusConflict, "", "The device is not marked lost.", nil)
	}
	if err != nil {
		return c.refused(w, r, s, err)
	}
	switch {
	case res.Wipe == nil && res.Unlock != nil:
		return c.done(w, r, "unlocked")
	case res.Wipe == nil:
		return c.done(w, r, "found")
	case res.WipeStatus == store.StatusRequested:
		return c.done(w, r, "found-wipe-pending")
	case res.WipeStatus == store.StatusDone:
		return c.done(w, r, "found-wipe-done")
	case res.WipeStatus == store.StatusFailed || res.WipeStatus == store.StatusRefused:
		return c.done(w, r, "found-wipe-failed")
	}
	return c.done(w, r, "found-wipe-delivered")
}

func (c *Console) cancel(w http.ResponseWriter, r *http.Request, s *session) error {
	_, err := c.act.CancelCommand(r.Context(), s.who.User.Name, r.PathValue("id"), r.PathValue("cid"))
	if errors.Is(err, store.ErrConflict) {
		return c.showDevice(w, r, s, http.StatusConflict, "", "That command can no longer be cancelled: it was delivered to the device, or is acknowledged or cancelled already.", nil)
	}
	if err != nil {
		return c.refused(w, r, s, err)
	}
	return c.done(w, r, "cancel")
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
// form, by the field and the kind of problem ("": any).
var formTexts = []struct {
	field string
	kind  actions.Kind
	text  string
}{
	{"lost_at", actions.ErrRequired, "Give the time the device was lost."},
	{"lost_at", actions.ErrFuture, "The times of loss and discovery must not be in the future."},
	{"discovered_at", actions.ErrFuture, "The times of loss and discovery must not be in the future."},
	{"discovered_at", actions.ErrOutOfOrder, "The loss cannot have been discovered before it happened."},
	{"note", actions.ErrTooLong, "The note is too long (" + present.Thousands(actions.MaxNote) + " characters at most)."},
	{"notify", "", "Choose whether the ICO is to be notified."},
	{"reasons", actions.ErrNotText, "The reasons must be text, without control characters."},
	{"reasons", "", "Give the reasons for the decision (" + present.Thousands(actions.MaxReasons) + " characters at most)."},
}

func formText(fe *actions.FieldError) string {
	for _, t := range formTexts {
		if t.field == fe.Field && (t.kind == "" || t.kind == fe.Kind) {
			return t.text
		}
	}
	return "The " + strings.ReplaceAll(fe.Field, "_", " ") + " " + fe.Problem + "."
}
