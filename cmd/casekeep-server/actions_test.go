package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/api"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
)

// The tests here run each of people's actions through every front end
// that offers it (the API, the console's forms, the command line), on one
// server serving what serve serves, and check that each stores the same,
// writes the same audit entry and refuses the same input, saying why in
// its own words.

// newActionsRig is the server as serve runs it (agents, the API and the
// console) on the test rig.
func newActionsRig(t *testing.T) *servertest.Rig {
	t.Helper()
	return servertest.New(t, servertest.Options{Handler: func(r *servertest.Rig) (http.Handler, error) {
		return handler(r.Server, r.Key, nil)
	}})
}

// deviceOf adds a device for a front end to act on (enrolled, not
// reporting), and returns its ID.
func deviceOf(t *testing.T, r *servertest.Rig, fe frontEnd) string {
	t.Helper()
	id := "dev-" + strings.ReplaceAll(fe.name, " ", "-")
	d := store.Device{ID: id, SigningKey: make([]byte, 32), Hostname: "laptop-" + id, OS: "linux", User: "sam", EnrolledAt: time.Now().UTC().Add(-48 * time.Hour)}
	if err := r.Store.CreateDevice(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return id
}

// outcome is what a person was told: the HTTP status (after a form, the
// console's redirect) or the command's exit code, and the words: the
// API's error, the console's flash or error, the command's output.
type outcome struct {
	code int
	msg  string
}

// lostInput is a lost report as a person gives it; zero times are left
// out.
type lostInput struct {
	lostAt, discoveredAt time.Time
	note                 string
}

// frontEnd is one way in for people; an action it does not offer is nil.
type frontEnd struct {
	name string
	// done is the code of an action done, for each action.
	done map[string]int
	// as is who the audit log says acted, by the role the person has.
	as func(store.Role) string

	markLost    func(t *testing.T, id string, in lostInput) outcome
	found       func(t *testing.T, id string) outcome
	wipe        func(t *testing.T, id string) outcome
	lock        func(t *testing.T, id string) outcome
	unlock      func(t *testing.T, id string) outcome
	cancel      func(t *testing.T, id, cid string) outcome
	rotate      func(t *testing.T, id string) outcome
	decide      func(t *testing.T, id string, notify *bool, reasons string) outcome
	assess      func(t *testing.T, id string, lostAt time.Time) outcome
	createToken func(t *testing.T, user, note string) (string, outcome)
	revokeToken func(t *testing.T, id string) outcome
	addUser     func(t *testing.T, name string, role store.Role) outcome
}

func frontEnds(r *servertest.Rig) []frontEnd {
	return []frontEnd{apiFrontEnd(r), consoleFrontEnd(r), commandLine(r)}
}

// apiFrontEnd acts through the API, as it-security (a DPO decides and
// assesses).
func apiFrontEnd(r *servertest.Rig) frontEnd {
	call := func(t *testing.T, method, path string, role store.Role, body any) ([]byte, outcome) {
		t.Helper()
		code, b := r.Do(method, path, r.Tokens[role], body)
		var e struct{ Error string }
		if code >= 400 && json.Unmarshal(b, &e) != nil {
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
		return b, outcome{code, e.Error}
	}
	// act POSTs an action without a body on a device, as it-security.
	act := func(action string) func(*testing.T, string) outcome {
		return func(t *testing.T, id string) outcome {
			_, out := call(t, "POST", "/api/v1/devices/"+id+"/"+action, store.RoleITSecurity, nil)
			return out
		}
	}
	return frontEnd{
		name: "api",
		done: map[string]int{"lost": 201, "wipe": 202, "decision": 201, "assess": 200, "token": 201,
			"found": 200, "lock": 202, "unlock": 202, "cancel": 200, "rotate": 201},
		as: servertest.Person,
		markLost: func(t *testing.T, id string, in lostInput) outcome {
			body := map[string]any{"note": in.note}
			if !in.lostAt.IsZero() {
				body["lost_at"] = in.lostAt
			}
			if !in.discoveredAt.IsZero() {
				body["discovered_at"] = in.discoveredAt
			}
			_, out := call(t, "POST", "/api/v1/devices/"+id+"/lost", store.RoleITSecurity, body)
			return out
		},
		wipe:   act("wipe"),
		found:  act("found"),
		lock:   act("lock"),
		unlock: act("unlock"),
		cancel: func(t *testing.T, id, cid string) outcome {
			_, out := call(t, "POST", "/api/v1/devices/"+id+"/commands/"+url.PathEscape(cid)+"/cancel", store.RoleITSecurity, nil)
			return out
		},
		rotate: act("lease/rotate"),
		decide: func(t *testing.T, id string, notify *bool, reasons string) outcome {
			_, out := call(t, "POST", "/api/v1/devices/"+id+"/decision", store.RoleDPO, map[string]any{"notify": notify, "reasons": reasons})
			return out
		},
		assess: func(t *testing.T, id string, lostAt time.Time) outcome {
			q := ""
			if !lostAt.IsZero() {
				q = "?lost_at=" + url.QueryEscape(rfc3339(lostAt))
			}
			_, out := call(t, "GET", "/api/v1/devices/"+id+"/assessment"+q, store.RoleDPO, nil)
			return out
		},
		createToken: func(t *testing.T, user, note string) (string, outcome) {
			b, out := call(t, "POST", "/api/v1/tokens", store.RoleITSecurity, map[string]string{"user": user, "note": note})
			var reply api.TokenReply
			if out.code == 201 {
				if err := json.Unmarshal(b, &reply); err != nil {
					t.Fatal(err)
				}
			}
			return reply.Token, out
		},
	}
}

// consoleFrontEnd acts through the console's forms, signed in as
// it-security (a DPO decides and assesses), as a browser does: with its
// cookies and each form's CSRF token.
func consoleFrontEnd(r *servertest.Rig) frontEnd {
	people := map[store.Role]*consoleClient{}
	person := func(t *testing.T, role store.Role) *consoleClient {
		if people[role] == nil {
			people[role] = signIn(t, r, r.Tokens[role])
		}
		return people[role]
	}
	form := func(t *testing.T, role store.Role, id, action string, v url.Values) outcome {
		return person(t, role).post(t, "/console/devices/"+id+"/"+action, v)
	}
	// act sends a device page's form of one button, as it-security.
	act := func(action string) func(*testing.T, string) outcome {
		return func(t *testing.T, id string) outcome { return form(t, store.RoleITSecurity, id, action, url.Values{}) }
	}
	return frontEnd{
		name: "console",
		done: map[string]int{"lost": 303, "wipe": 303, "decision": 303, "assess": 200, "found": 303, "lock": 303, "unlock": 303, "cancel": 303},
		as:   servertest.Person,
		markLost: func(t *testing.T, id string, in lostInput) outcome {
			v := url.Values{"note": {in.note}}
			if !in.lostAt.IsZero() {
				v.Set("lost_at", rfc3339(in.lostAt))
			}
			if !in.discoveredAt.IsZero() {
				v.Set("discovered_at", rfc3339(in.discoveredAt))
			}
			return form(t, store.RoleITSecurity, id, "lost", v)
		},
		wipe: func(t *testing.T, id string) outcome {
			return form(t, store.RoleITSecurity, id, "wipe", url.Values{"confirm": {"yes"}})
		},
		found:  act("found"),
		lock:   act("lock"),
		unlock: act("unlock"),
		cancel: func(t *testing.T, id, cid string) outcome {
			return form(t, store.RoleITSecurity, id, "commands/"+url.PathEscape(cid)+"/cancel", url.Values{})
		},
		decide: func(t *testing.T, id string, notify *bool, reasons string) outcome {
			v := url.Values{"reasons": {reasons}}
			if notify != nil {
				v.Set("notify", map[bool]string{true: "yes", false: "no"}[*notify])
			}
			return form(t, store.RoleDPO, id, "decision", v)
		},
		assess: func(t *testing.T, id string, lostAt time.Time) outcome {
			q := ""
			if !lostAt.IsZero() {
				q = "?lost_at=" + url.QueryEscape(rfc3339(lostAt))
			}
			return person(t, store.RoleDPO).get(t, "/console/devices/"+id+"/assessment"+q)
		},
	}
}

// commandLine acts through casekeep-server's commands, run in this
// process against the rig's store.
func commandLine(r *servertest.Rig) frontEnd {
	cmd := func(t *testing.T, args ...string) outcome {
		t.Helper()
		res := run(t, append(args, "--db", r.DB)...)
		msg := res.Stderr
		if res.Code == 0 {
			msg = res.Stdout
		}
		return outcome{res.Code, strings.TrimSpace(msg)}
	}
	return frontEnd{
		name: "command line",
		done: map[string]int{"token": 0, "revoke": 0, "user": 0, "rotate": 0},
		as:   func(store.Role) string { return actions.CommandLine },
		createToken: func(t *testing.T, user, note string) (string, outcome) {
			out := cmd(t, "token", "create", "--user", user, "--note", note)
			if out.code != 0 {
				return "", out
			}
			return out.msg, outcome{out.code, ""}
		},
		revokeToken: func(t *testing.T, id string) outcome { return cmd(t, "token", "revoke", id) },
		rotate:      func(t *testing.T, id string) outcome { return cmd(t, "lease", "rotate", id) },
		addUser: func(t *testing.T, name string, role store.Role) outcome {
			return cmd(t, "user", "add", name, "--role", string(role))
		},
	}
}

// consoleClient is a person signed in to the console, with a browser's
// cookie jar and the CSRF token the console's forms carry.
type consoleClient struct {
	r    *servertest.Rig
	c    *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func signIn(t *testing.T, r *servertest.Rig, token string) *consoleClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cc := &consoleClient{r: r, c: c}
	cc.csrf = cc.formToken(t, "/console/login")
	if out := cc.post(t, "/console/login", url.Values{"token": {token}, "next": {"/console/"}}); out.code != 303 {
		t.Fatalf("signing in: %+v", out)
	}
	cc.csrf = cc.formToken(t, "/console/")
	return cc
}

// formToken is the CSRF token of the forms on the page at path.
func (cc *consoleClient) formToken(t *testing.T, path string) string {
	t.Helper()
	resp, page := cc.send(t, "GET", path, nil)
	m := csrfField.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET %s: %d, no form:\n%s", path, resp.StatusCode, page)
	}
	return html.UnescapeString(m[1])
}

func (cc *consoleClient) send(t *testing.T, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, cc.r.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := cc.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// get fetches a page: its status and its error or flash, if it shows one.
func (cc *consoleClient) get(t *testing.T, path string) outcome {
	t.Helper()
	resp, body := cc.send(t, "GET", path, nil)
	return outcome{resp.StatusCode, shown(body)}
}

// post sends a form with the CSRF token: the status, and what the page
// it leads to says (its flash after a redirect, else its error).
func (cc *consoleClient) post(t *testing.T, action string, form url.Values) outcome {
	t.Helper()
	form.Set("csrf", cc.csrf)
	resp, body := cc.send(t, "POST", action, form)
	if resp.StatusCode != http.StatusSeeOther {
		return outcome{resp.StatusCode, shown(body)}
	}
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/console/devices/") {
		return outcome{resp.StatusCode, cc.get(t, loc).msg}
	}
	return outcome{resp.StatusCode, ""}
}

var shownText = regexp.MustCompile(`<p class="(?:error|flash|message)"[^>]*>([^<]*)</p>`)

// shown is the error, flash or message a console page shows.
func shown(page string) string {
	if m := shownText.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// auditOf returns the audit log's entries about target, oldest first.
func auditOf(t *testing.T, r *servertest.Rig, target string) []store.AuditEntry {
	t.Helper()
	log, err := r.Store.AuditLog(context.Background(), time.Time{}, time.Now().Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Target == target {
			out = append(out, log[i])
		}
	}
	return out
}

// sameEntries checks the audit log holds exactly want about target
// (Actor, Action, Target and Detail), each at a time in [from, to].
func sameEntries(t *testing.T, r *servertest.Rig, what, target string, from, to time.Time, want ...store.AuditEntry) {
	t.Helper()
	got := auditOf(t, r, target)
	if len(got) != len(want) {
		t.Errorf("%s: audit log about %s: %+v, want %+v", what, target, got, want)
		return
	}
	for i, e := range got {
		w := want[i]
		if e.Actor != w.Actor || e.Action != w.Action || e.Target != w.Target || e.Detail != w.Detail || !within(e.Time, from, to) {
			t.Errorf("%s: audit entry %+v, want %+v at %v to %v", what, e, w, from, to)
		}
	}
}

// within says whether t is in [from, to], as a store keeps times (to the
// microsecond).
func within(t, from, to time.Time) bool {
	return !t.Before(from.Truncate(time.Microsecond)) && !t.After(to)
}

// checkRefused checks a front end refused input, with 400 (the API, the
// console) or 2 (the command line), saying what says has for it.
func checkRefused(t *testing.T, fe frontEnd, what string, out outcome, says map[string]string) {
	t.Helper()
	code := map[string]int{"api": 400, "console": 400, "command line": 2}[fe.name]
	want, ok := says[fe.name]
	if !ok {
		t.Fatalf("%s: nothing said for %s", what, fe.name)
	}
	if out.code != code || out.msg != want {
		t.Errorf("%s through the %s: %d %q, want %d %q", what, fe.name, out.code, out.msg, code, want)
	}
}

func TestActionMarkLost(t *testing.T) {
	r := newActionsRig(t)
	lostAt := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	for _, fe := range frontEnds(r) {
		if fe.markLost == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		for _, c := range []struct {
			in   lostInput
			what string
			says map[string]string
		}{
			{lostInput{note: "no time"}, "no time of loss", map[string]string{
				"api": "lost_at is required: when the device was lost", "console": "Give the time the device was lost."}},
			{lostInput{lostAt: time.Now().Add(time.Hour)}, "a loss in the future", map[string]string{
				"api": "lost_at must not be in the future", "console": "The times of loss and discovery must not be in the future."}},
			{lostInput{lostAt: lostAt, discoveredAt: time.Now().Add(time.Hour)}, "a discovery in the future", map[string]string{
				"api": "discovered_at must not be in the future", "console": "The times of loss and discovery must not be in the future."}},
			{lostInput{lostAt: lostAt, discoveredAt: lostAt.Add(-time.Minute)}, "a discovery before the loss", map[string]string{
				"api": "discovered_at must not be before lost_at", "console": "The loss cannot have been discovered before it happened."}},
			{lostInput{lostAt: lostAt, note: strings.Repeat("x", actions.MaxNote+1)}, "a note too long", map[string]string{
				"api": "note must be at most 4,000 characters", "console": "The note is too long (4,000 characters at most)."}},
			{lostInput{lostAt: lostAt, note: "left on a\x1b[2J train"}, "a note with a control character", map[string]string{
				"api": "note must be text, without control characters", "console": "The note must be text, without control characters."}},
		} {
			checkRefused(t, fe, c.what, fe.markLost(t, id, c.in), c.says)
		}
		if out := fe.markLost(t, "nope", lostInput{lostAt: lostAt}); out.code != 404 {
			t.Errorf("marking an unknown device lost through the %s: %+v", fe.name, out)
		}
		if reps, _ := r.Store.LostReports(context.Background(), id); len(reps) != 0 {
			t.Errorf("%s: refused reports stored: %+v", fe.name, reps)
		}
		sameEntries(t, r, fe.name+", refused", id, time.Time{}, time.Time{})

		before := time.Now()
		out := fe.markLost(t, id, lostInput{lostAt: lostAt, note: "  left on a train\r\n(the 17:42)  "})
		after := time.Now()
		if want := (outcome{fe.done["lost"], map[string]string{"api": "", "console": "The device is marked lost."}[fe.name]}); out != want {
			t.Errorf("%s: %+v, want %+v", fe.name, out, want)
		}
		reps, err := r.Store.LostReports(context.Background(), id)
		if err != nil || len(reps) != 1 {
			t.Fatalf("%s: lost reports %+v, %v", fe.name, reps, err)
		}
		rep := reps[0]
		if !rep.LostAt.Equal(lostAt) || !within(rep.DiscoveredAt, before, after) || !rep.RecordedAt.Equal(rep.DiscoveredAt) ||
			rep.By != fe.as(store.RoleITSecurity) || rep.Note != "left on a train\r\n(the 17:42)" {
			t.Errorf("%s: stored %+v", fe.name, rep)
		}
		sameEntries(t, r, fe.name, id, before, after, store.AuditEntry{Actor: fe.as(store.RoleITSecurity), Action: actions.AuditMarkLost, Target: id,
			Detail: "lost at " + rfc3339(lostAt) + ", discovered at " + rfc3339(rep.DiscoveredAt)})
	}
}

func TestActionWipe(t *testing.T) {
	r := newActionsRig(t)
	for _, fe := range frontEnds(r) {
		if fe.wipe == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		if out := fe.wipe(t, "nope"); out.code != 404 {
			t.Errorf("wiping an unknown device through the %s: %+v", fe.name, out)
		}
		before := time.Now()
		out := fe.wipe(t, id)
		after := time.Now()
		if want := (outcome{fe.done["wipe"], map[string]string{"api": "", "console": "A wipe is requested. It stays pending until the device's agent acknowledges it."}[fe.name]}); out != want {
			t.Errorf("%s: %+v, want %+v", fe.name, out, want)
		}
		ws, err := r.Store.Commands(context.Background(), id)
		if err != nil || len(ws) != 1 || ws[0].Type != wire.CommandWipe || !within(ws[0].RequestedAt, before, after) ||
			ws[0].RequestedBy != fe.as(store.RoleITSecurity) || ws[0].Status(after) != store.StatusRequested {
			t.Fatalf("%s: wipes %+v, %v", fe.name, ws, err)
		}
		sameEntries(t, r, fe.name, id, before, after, store.AuditEntry{Actor: fe.as(store.RoleITSecurity), Action: actions.AuditWipeRequest, Target: id,
			Detail: "command " + ws[0].ID + ": the lease is refused from now; sent at the device's next contact, however long after (a wipe never expires); pending until the agent acknowledges"})
	}
}

func TestActionDecision(t *testing.T) {
	r := newActionsRig(t)
	no := false
	for _, fe := range frontEnds(r) {
		if fe.decide == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		for _, c := range []struct {
			notify  *bool
			reasons string
			what    string
			says    map[string]string
		}{
			{nil, "sealed", "no notify", map[string]string{
				"api": "notify is required: true or false", "console": "Choose whether the ICO is to be notified."}},
			{&no, " \r\n ", "no reasons", map[string]string{
				"api": "reasons are required: why the ICO is, or is not, to be notified", "console": "Give the reasons for the decision (8,000 characters at most)."}},
			{&no, strings.Repeat("x", actions.MaxReasons+1), "reasons too long", map[string]string{
				"api": "reasons must be at most 8,000 characters", "console": "Give the reasons for the decision (8,000 characters at most)."}},
		} {
			checkRefused(t, fe, c.what, fe.decide(t, id, c.notify, c.reasons), c.says)
		}
		if ds, _ := r.Store.Decisions(context.Background(), id); len(ds) != 0 {
			t.Errorf("%s: refused decisions stored: %+v", fe.name, ds)
		}
		sameEntries(t, r, fe.name+", refused", id, time.Time{}, time.Time{})

		before := time.Now()
		out := fe.decide(t, id, &no, "  sealed, disk encrypted,\nkey not served after the loss ")
		after := time.Now()
		if want := (outcome{fe.done["decision"], map[string]string{"api": "", "console": "The decision is recorded."}[fe.name]}); out != want {
			t.Errorf("%s: %+v, want %+v", fe.name, out, want)
		}
		ds, err := r.Store.Decisions(context.Background(), id)
		if err != nil || len(ds) != 1 || ds[0].Notify || ds[0].Reasons != "sealed, disk encrypted,\nkey not served after the loss" ||
			ds[0].By != fe.as(store.RoleDPO) || !within(ds[0].At, before, after) {
			t.Errorf("%s: decisions %+v, %v", fe.name, ds, err)
		}
		sameEntries(t, r, fe.name, id, before, after, store.AuditEntry{Actor: fe.as(store.RoleDPO), Action: actions.AuditDecision, Target: id,
			Detail: "notify the ICO: false"})
	}
}

func TestActionAssessmentViewed(t *testing.T) {
	r := newActionsRig(t)
	lostAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, fe := range frontEnds(r) {
		if fe.assess == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		// Not marked lost and no time given: nothing to view, nothing
		// recorded.
		out := fe.assess(t, id, time.Time{})
		if want := map[string]outcome{
			"api":     {400, "no time of loss: give one, or mark the device lost first"},
			"console": {200, "The device has not been marked lost: give the time of loss to assess."},
		}[fe.name]; out != want {
			t.Errorf("%s, no time of loss: %+v, want %+v", fe.name, out, want)
		}
		sameEntries(t, r, fe.name+", no time of loss", id, time.Time{}, time.Time{})
		before := time.Now()
		if out := fe.assess(t, id, lostAt); out.code != fe.done["assess"] {
			t.Errorf("%s: %+v", fe.name, out)
		}
		sameEntries(t, r, fe.name, id, before, time.Now(), store.AuditEntry{Actor: fe.as(store.RoleDPO), Action: actions.AuditReportView, Target: id,
			Detail: "lost-device assessment, lost at " + rfc3339(lostAt)})
	}
}

func TestActionTokens(t *testing.T) {
	r := newActionsRig(t)
	user := servertest.Person(store.RoleAuditor)
	for _, fe := range frontEnds(r) {
		if fe.createToken == nil {
			continue
		}
		had, err := r.Store.APITokens(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			user, note, what string
			says             map[string]string
		}{
			{user, strings.Repeat("n", 201), "a note too long", map[string]string{
				"api": "note must be at most 200 characters", "command line": "casekeep-server: --note must be at most 200 characters"}},
			{user, "laptop\tphone", "a note with a tab", map[string]string{
				"api": "note must be text, without control characters", "command line": "casekeep-server: --note must be text, without control characters"}},
			{"Ann\nExample", "", "a name over two lines", map[string]string{
				"api": "user must be 1 to 100 printable characters", "command line": "casekeep-server: --user must be 1 to 100 printable characters"}},
		} {
			tok, out := fe.createToken(t, c.user, c.note)
			checkRefused(t, fe, c.what, out, c.says)
			if tok != "" {
				t.Errorf("%s, %s: a token", fe.name, c.what)
			}
		}
		// A token for nobody.
		_, out := fe.createToken(t, "Nobody", "")
		if want := map[string]outcome{
			"api":          {404, "not found"},
			"command line": {1, `casekeep-server: a token for Nobody: user "Nobody": not found (add the person first: casekeep-server user add)`},
		}[fe.name]; out != want {
			t.Errorf("%s, a token for nobody: %+v, want %+v", fe.name, out, want)
		}
		sameEntries(t, r, fe.name+", refused", "Nobody", time.Time{}, time.Time{})

		before := time.Now()
		tok, out := fe.createToken(t, " "+user+" ", " the auditor's laptop ")
		after := time.Now()
		if out != (outcome{fe.done["token"], ""}) || !strings.HasPrefix(tok, "ckapi1.") {
			t.Fatalf("%s: %+v, token %q", fe.name, out, tok)
		}
		toks, err := r.Store.APITokens(context.Background(), user)
		if err != nil || len(toks) != len(had)+1 {
			t.Fatalf("%s: tokens %+v, %v", fe.name, toks, err)
		}
		var rec store.APIToken
		for _, x := range toks {
			if !slices.ContainsFunc(had, func(h store.APIToken) bool { return h.ID == x.ID }) {
				rec = x
			}
		}
		if rec.User != user || rec.Note != "the auditor's laptop" || !within(rec.CreatedAt, before, after) || !rec.RevokedAt.IsZero() {
			t.Errorf("%s: stored %+v", fe.name, rec)
		}
		if code, body := r.Do("GET", "/api/v1/devices", tok, nil); code != 200 {
			t.Errorf("%s: the new token: %d %s", fe.name, code, body)
		}
		// Every token create says the same; the audit log has them all.
		want := []store.AuditEntry{}
		for _, e := range auditOf(t, r, user) {
			if e.Time.Before(before.Truncate(time.Microsecond)) {
				want = append(want, e)
			}
		}
		want = append(want, store.AuditEntry{Actor: fe.as(store.RoleITSecurity), Action: actions.AuditTokenCreate, Target: user, Detail: "token " + rec.ID})
		sameEntries(t, r, fe.name, user, time.Time{}, after, want...)

		// Revoking it, where the front end can.
		cl := commandLine(r)
		if out := cl.revokeToken(t, "nope"); out != (outcome{1, `casekeep-server: revoking nope: revoke API token "nope": not found`}) {
			t.Errorf("revoking an unknown token: %+v", out)
		}
		checkRefused(t, cl, "a token ID over two lines", cl.revokeToken(t, "ab\ncd"), map[string]string{
			"command line": "casekeep-server: the token ID must be a token's ID (casekeep-server user list shows them)"})
		before = time.Now()
		if out := cl.revokeToken(t, rec.ID); out != (outcome{0, "revoked " + rec.ID}) {
			t.Errorf("revoking: %+v", out)
		}
		after = time.Now()
		if code, _ := r.Do("GET", "/api/v1/devices", tok, nil); code != 401 {
			t.Errorf("%s: the revoked token: %d", fe.name, code)
		}
		sameEntries(t, r, "revoking", rec.ID, before, after, store.AuditEntry{Actor: actions.CommandLine, Action: actions.AuditTokenRevoke, Target: rec.ID})
	}
}

func TestActionAddUser(t *testing.T) {
	r := newActionsRig(t)
	for _, fe := range frontEnds(r) {
		if fe.addUser == nil {
			continue
		}
		for _, c := range []struct {
			name string
			role store.Role
			what string
			says map[string]string
		}{
			{"Cara", "boss", "an unknown role", map[string]string{"command line": "casekeep-server: --role must be one of it-security, dpo, auditor"}},
			{"Cara\tExample", store.RoleDPO, "a tab in the name", map[string]string{"command line": "casekeep-server: the name must be 1 to 100 printable characters"}},
			{strings.Repeat("c", 101), store.RoleDPO, "a name too long", map[string]string{"command line": "casekeep-server: the name must be 1 to 100 printable characters"}},
		} {
			checkRefused(t, fe, c.what, fe.addUser(t, c.name, c.role), c.says)
		}
		if out := fe.addUser(t, servertest.Person(store.RoleDPO), store.RoleAuditor); out != (outcome{1, `casekeep-server: adding user-dpo: create user "user-dpo": already exists`}) {
			t.Errorf("%s, a name taken: %+v", fe.name, out)
		}
		if users, _ := r.Store.Users(context.Background()); len(users) != len(store.Roles) {
			t.Errorf("%s: refused people stored: %+v", fe.name, users)
		}
		before := time.Now()
		if out := fe.addUser(t, "  Cara Example ", store.RoleDPO); out != (outcome{fe.done["user"], "added Cara Example (dpo)"}) {
			t.Errorf("%s: %+v", fe.name, out)
		}
		after := time.Now()
		u, err := r.Store.User(context.Background(), "Cara Example")
		if err != nil || u.Role != store.RoleDPO || !within(u.CreatedAt, before, after) {
			t.Errorf("%s: stored %+v, %v", fe.name, u, err)
		}
		sameEntries(t, r, fe.name, "Cara Example", before, after, store.AuditEntry{Actor: fe.as(store.RoleITSecurity), Action: actions.AuditUserAdd, Target: "Cara Example", Detail: "role dpo"})
		// The person added may have a token, made through the API.
		if tok, out := apiFrontEnd(r).createToken(t, "Cara Example", ""); out.code != 201 {
			t.Errorf("a token for the person added: %+v", out)
		} else if code, _ := r.Do("POST", "/api/v1/devices/x/lost", tok, map[string]any{}); code != 403 {
			t.Errorf("a DPO marking a device lost: %d, want 403", code)
		}
	}
}

// TestActionsOffered: each action is offered by at least one front end
// here, so none goes untested.
func TestActionsOffered(t *testing.T) {
	r := newActionsRig(t)
	offered := map[string]bool{}
	for _, fe := range frontEnds(r) {
		for name, ok := range map[string]bool{"lost": fe.markLost != nil, "wipe": fe.wipe != nil, "decision": fe.decide != nil, "assess": fe.assess != nil,
			"token": fe.createToken != nil, "revoke": fe.revokeToken != nil, "user": fe.addUser != nil,
			"found": fe.found != nil, "lock": fe.lock != nil, "unlock": fe.unlock != nil, "cancel": fe.cancel != nil, "rotate": fe.rotate != nil} {
			if ok {
				offered[name] = true
				if _, has := fe.done[name]; !has {
					t.Errorf("%s offers %s without saying how it answers", fe.name, name)
				}
			}
		}
	}
	if len(offered) != 12 {
		t.Errorf("offered: %v", offered)
	}
}

// rfc3339 writes a time as the audit log and the API do.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
