package console

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/store"
)

var allRoles = []store.Role{store.RoleITSecurity, store.RoleDPO, store.RoleAuditor}

func lostForm(f *fixture) url.Values {
	return url.Values{"lost_at": {f.now.Add(-time.Minute).Format("2006-01-02T15:04Z")}, "discovered_at": {f.now.Format("2006-01-02T15:04Z")}, "note": {"left on a train"}}
}

// TestPagesRender: every page answers 200 with the layout, the CSP and no
// caching, for every role that may read it.
func TestPagesRender(t *testing.T) {
	f := newFixture(t)
	at := url.QueryEscape(f.now.Add(-4 * 24 * time.Hour).Format("2006-01-02T15:04Z"))
	lost := url.QueryEscape(f.now.Add(-time.Minute).Format(time.RFC3339))
	pages := []struct {
		path  string
		want  string
		roles []store.Role
	}{
		{"/console/", "Needs attention first", allRoles},
		{"/console/devices", "5 of 5 devices", allRoles},
		{"/console/devices?liveness=online&compliant=true", "1 of 5 devices", allRoles},
		{"/console/devices?plaintext=true&user=%3Cb%3Eeve%3C%2Fb%3E", "1 of 5 devices", allRoles},
		{"/console/devices?policy_version=3", "4 of 5 devices", allRoles},
		{"/console/devices/dev-a", "LL-100002", allRoles},
		{"/console/devices/dev-c", "Nothing in the last 30 days", allRoles},
		{"/console/cases", "Case reference", allRoles},
		{"/console/cases?ref=LL-100001", "2 devices have held LL-100001; 1 still holds it.", allRoles},
		{"/console/compliance", "Compliance at a time", allRoles},
		{"/console/compliance?at=" + at, "2 compliant, 0 non-compliant, 3 with nothing reported yet", allRoles},
		{"/console/events?type=storage.", "1 event.", allRoles},
		{"/console/events?device=dev-b", "sweep.case_file_found", allRoles},
		{"/console/audit", "newest first", allRoles},
		{"/console/devices/dev-a/assessment?lost_at=" + lost, "What the evidence supports", []store.Role{store.RoleITSecurity, store.RoleDPO}},
		{"/console/devices/dev-a/assessment", "has not been marked lost", []store.Role{store.RoleITSecurity, store.RoleDPO}},
		{"/console/login", "Your API token", nil},
	}
	for _, p := range pages {
		roles := p.roles
		if roles == nil {
			roles = []store.Role{""}
		}
		for _, r := range roles {
			w := f.do("GET", p.path, r, nil)
			body := w.Body.String()
			if w.Code != 200 || !strings.Contains(body, p.want) {
				t.Errorf("GET %s as %q: %d, want 200 with %q:\n%s", p.path, r, w.Code, p.want, body)
				continue
			}
			h := w.Result().Header
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self'") {
				t.Errorf("GET %s: CSP %q", p.path, csp)
			}
			if h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("GET %s: headers %v", p.path, h)
			}
			if strings.Contains(body, "<script") {
				t.Errorf("GET %s: a <script> on the page", p.path)
			}
		}
	}
	// Downloads.
	for _, c := range []struct{ path, ctype, want string }{
		{"/console/devices?format=csv", "text/csv; charset=utf-8", "'" + formula},
		{"/console/cases?ref=LL-100001&format=csv", "text/csv; charset=utf-8", "dev-e"},
		{"/console/compliance?format=csv&at=" + at, "text/csv; charset=utf-8", "dev-a"},
		{"/console/events?format=csv&type=sweep.", "text/csv; charset=utf-8", evilDetail},
		{"/console/audit?format=csv", "text/csv; charset=utf-8", "actor"},
		{"/console/devices/dev-a/assessment?format=csv&lost_at=" + lost, "text/csv; charset=utf-8", "statement"},
		{"/console/devices/dev-a/assessment?format=json&lost_at=" + lost, "application/json", `"statements"`},
		{"/console/devices/dev-a/assessment?format=print&lost_at=" + lost, "text/html; charset=utf-8", "Lost device assessment"},
	} {
		w := f.do("GET", c.path, store.RoleITSecurity, nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != c.ctype || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("GET %s: %d %s, want %s with %q:\n%s", c.path, w.Code, w.Header().Get("Content-Type"), c.ctype, c.want, w.Body.String())
		}
	}
	// The device list's CSV is the filtered list.
	w := f.do("GET", "/console/devices?liveness=online&format=csv", store.RoleAuditor, nil)
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Errorf("online devices as CSV: %v, %v", rows, err)
	}
	// The printable page allows its own inline style by hash, and no more.
	w = f.do("GET", "/console/devices/dev-a/assessment?format=print&lost_at="+lost, store.RoleDPO, nil)
	if csp := w.Header().Get("Content-Security-Policy"); !regexp.MustCompile(`^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+';`).MatchString(csp) {
		t.Errorf("printable page CSP %q", csp)
	}
	// Static files need no session.
	if w := f.do("GET", "/console/static/console.css", "", nil); w.Code != 200 || w.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("console.css: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	for _, p := range []string{"/console/static/nope.css", "/console/devices/nope", "/console/nope"} {
		if w := f.do("GET", p, store.RoleAuditor, nil); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
	for _, p := range []string{"/console/devices?liveness=sideways", "/console/compliance?at=yesterday", "/console/events?from=soon", "/console/devices/dev-a/assessment?lost_at=soon"} {
		if w := f.do("GET", p, store.RoleITSecurity, nil); w.Code != 400 || !strings.Contains(w.Body.String(), `id="error"`) {
			t.Errorf("GET %s: %d, want 400 with the error shown", p, w.Code)
		}
	}
}

// TestFleetCounts: the fleet page counts liveness and compliance, and lists
// the devices to look at first in order.
func TestFleetCounts(t *testing.T) {
	f := newFixture(t)
	if w := f.do("POST", "/console/devices/dev-e/lost", store.RoleITSecurity, lostForm(f)); w.Code != 303 {
		t.Fatalf("mark lost: %d", w.Code)
	}
	body := f.do("GET", "/console/", store.RoleAuditor, nil).Body.String()
	for id, n := range map[string]string{"live-online": "2", "live-offline": "1", "live-missing": "1", "live-never": "1",
		"comp-compliant": "3", "comp-non-compliant": "1", "comp-unreported": "1"} {
		if !regexp.MustCompile(`id="` + id + `">` + n + `<`).MatchString(body) {
			t.Errorf("fleet: %s is not %s", id, n)
		}
	}
	att := body[strings.Index(body, `id="attention"`):]
	order := []string{"&lt;script&gt;", "2 plaintext files, non-compliant", "old-laptop", "missing", "laptop-5", "marked lost"}
	pos := 0
	for _, s := range order {
		i := strings.Index(att[pos:], s)
		if i < 0 {
			t.Fatalf("attention list: %q missing or out of order:\n%s", s, att)
		}
		pos += i
	}
	if strings.Contains(att, "laptop-1<") {
		t.Errorf("laptop-1 needs no attention:\n%s", att)
	}
}

// TestRoles: what each role sees and may post; a refused post changes
// nothing and is not audited.
func TestRoles(t *testing.T) {
	f := newFixture(t)
	decision := url.Values{"notify": {"no"}, "reasons": {"sealed, disk encrypted"}}
	wipe := url.Values{"confirm": {"yes"}}
	cases := []struct {
		path string
		form url.Values
		want map[store.Role]int
	}{
		{"/console/devices/dev-a/lost", lostForm(f), map[store.Role]int{store.RoleITSecurity: 303, store.RoleDPO: 403, store.RoleAuditor: 403}},
		{"/console/devices/dev-a/wipe", wipe, map[store.Role]int{store.RoleITSecurity: 303, store.RoleDPO: 403, store.RoleAuditor: 403}},
		{"/console/devices/dev-a/decision", decision, map[store.Role]int{store.RoleITSecurity: 303, store.RoleDPO: 303, store.RoleAuditor: 403}},
	}
	for _, c := range cases {
		for _, r := range allRoles {
			if w := f.do("POST", c.path, r, c.form); w.Code != c.want[r] {
				t.Errorf("POST %s as %s: %d, want %d\n%s", c.path, r, w.Code, c.want[r], w.Body.String())
			}
		}
	}
	if w := f.do("GET", "/console/devices/dev-a/assessment", store.RoleAuditor, nil); w.Code != 403 {
		t.Errorf("assessment as auditor: %d, want 403", w.Code)
	}
	// The forms shown.
	forms := map[store.Role][]string{
		store.RoleITSecurity: {"assess-form", "lost-form", "wipe-form", "decision-form"},
		store.RoleDPO:        {"assess-form", "decision-form"},
		store.RoleAuditor:    {},
	}
	for r, want := range forms {
		body := f.do("GET", "/console/devices/dev-a", r, nil).Body.String()
		for _, id := range []string{"assess-form", "lost-form", "wipe-form", "decision-form"} {
			has := strings.Contains(body, `id="`+id+`"`)
			if has != contains(want, id) {
				t.Errorf("device page as %s: form %s shown %v", r, id, has)
			}
		}
		if r == store.RoleAuditor && strings.Contains(body, `method="post" action="/console/devices`) {
			t.Errorf("auditor sees a form that posts to a device")
		}
	}
	ctx := context.Background()
	lost, _ := f.st.LostReports(ctx, "dev-a")
	wipes, _ := f.st.Commands(ctx, "dev-a")
	decisions, _ := f.st.Decisions(ctx, "dev-a")
	if len(lost) != 1 || lost[0].By != "user-it-security" || lost[0].Note != "left on a train" || len(wipes) != 1 || len(decisions) != 2 {
		t.Errorf("stored: %+v %+v %+v", lost, wipes, decisions)
	}
	var got []string
	log, _ := f.st.AuditLog(ctx, time.Time{}, f.now.Add(time.Hour), 0)
	for _, e := range log {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	want := []string{"user-dpo device.decision dev-a", "user-it-security device.decision dev-a", "user-it-security device.wipe_request dev-a", "user-it-security device.mark_lost dev-a"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Pending wipes are shown as such.
	if body := f.do("GET", "/console/devices/dev-a", store.RoleAuditor, nil).Body.String(); !strings.Contains(body, "<strong>requested</strong>: not yet delivered") {
		t.Errorf("device page shows no pending wipe")
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestFormChecks: a refused form shows why, with what was sent, and stores
// nothing.
func TestFormChecks(t *testing.T) {
	f := newFixture(t)
	future := f.now.Add(time.Hour).Format("2006-01-02T15:04Z")
	for _, c := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/console/devices/dev-a/lost", url.Values{"note": {"no time"}}, "Give the time the device was lost."},
		{"/console/devices/dev-a/lost", url.Values{"lost_at": {"tuesday"}}, "Time of loss"},
		{"/console/devices/dev-a/lost", url.Values{"lost_at": {future}}, "must not be in the future"},
		{"/console/devices/dev-a/lost", url.Values{"lost_at": {"2026-01-02T10:00Z"}, "discovered_at": {"2026-01-01T10:00Z"}}, "discovered before it happened"},
		{"/console/devices/dev-a/wipe", url.Values{}, "Tick the box"},
		{"/console/devices/dev-a/decision", url.Values{"reasons": {"x"}}, "Choose whether"},
		{"/console/devices/dev-a/decision", url.Values{"notify": {"yes"}}, "Give the reasons"},
	} {
		w := f.do("POST", c.path, store.RoleITSecurity, c.form)
		if w.Code != 400 || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("POST %s %v: %d, want 400 with %q", c.path, c.form, w.Code, c.want)
		}
	}
	if w := f.do("POST", "/console/devices/nope/lost", store.RoleITSecurity, lostForm(f)); w.Code != 404 {
		t.Errorf("marking an unknown device lost: %d", w.Code)
	}
	ctx := context.Background()
	lost, _ := f.st.LostReports(ctx, "dev-a")
	wipes, _ := f.st.Commands(ctx, "dev-a")
	if len(lost)+len(wipes) != 0 {
		t.Errorf("refused forms stored %v %v", lost, wipes)
	}
}

// TestCSRF: a POST needs the session's CSRF token and this origin.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	form := lostForm(f)
	other := f.c.csrfToken(f.session(store.RoleDPO)) // another session's token
	for name, c := range map[string]struct {
		form url.Values
		mod  func(*http.Request)
	}{
		"no token":            {withCSRF(form, ""), nil},
		"a wrong token":       {withCSRF(form, "AAAA"), nil},
		"another's token":     {withCSRF(form, other), nil},
		"another origin":      {form, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }},
		"an opaque origin":    {form, func(r *http.Request) { r.Header.Set("Origin", "null") }},
		"a cross-site fetch":  {form, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
		"a same-site fetch":   {form, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") }},
		"the origin's scheme": {form, func(r *http.Request) { r.Header.Set("Origin", "ftp://"+testHost) }},
	} {
		var mods []func(*http.Request)
		if c.mod != nil {
			mods = append(mods, c.mod)
		}
		if w := f.do("POST", "/console/devices/dev-a/lost", store.RoleITSecurity, c.form, mods...); w.Code != 403 {
			t.Errorf("%s: %d, want 403", name, w.Code)
		}
	}
	// Logging out needs the token too, so another site cannot sign a
	// person out.
	if w := f.do("POST", "/console/logout", store.RoleAuditor, url.Values{"csrf": {""}}); w.Code != 403 {
		t.Errorf("logout without a token: %d", w.Code)
	}
	if lost, _ := f.st.LostReports(context.Background(), "dev-a"); len(lost) != 0 {
		t.Errorf("refused posts stored %v", lost)
	}
	// The same origin, said either way, is fine.
	same := func(r *http.Request) {
		r.Header.Set("Origin", "https://"+testHost)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if w := f.do("POST", "/console/devices/dev-a/lost", store.RoleITSecurity, form, same); w.Code != 303 {
		t.Errorf("same origin: %d", w.Code)
	}
}

func withCSRF(v url.Values, tok string) url.Values {
	v = cloneValues(v)
	v.Set("csrf", tok)
	return v
}

// loginCSRF fetches the login page and returns its login cookie and the
// form's CSRF token.
func loginCSRF(t *testing.T, f *fixture) (*http.Cookie, string) {
	t.Helper()
	w := f.do("GET", "/console/login", "", nil)
	var lc *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == loginCookie {
			lc = c
		}
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(w.Body.String())
	if lc == nil || m == nil {
		t.Fatalf("login page: no login cookie or CSRF token:\n%s", w.Body.String())
	}
	return lc, m[1]
}

// TestLogin: pasting a token signs in with a cookie holding no secret;
// a bad, revoked or CSRF-less attempt does not; logging out clears it.
func TestLogin(t *testing.T) {
	f := newFixture(t)
	lc, tok := loginCSRF(t, f)
	post := func(form url.Values, mods ...func(*http.Request)) *httptest.ResponseRecorder {
		return f.do("POST", "/console/login", "", form, append([]func(*http.Request){func(r *http.Request) { r.AddCookie(lc) }}, mods...)...)
	}
	if w := post(url.Values{"token": {f.tokens[store.RoleDPO]}}); w.Code != 403 {
		t.Errorf("login without CSRF token: %d", w.Code)
	}
	if w := post(url.Values{"token": {f.tokens[store.RoleDPO]}, "csrf": {tok}}, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }); w.Code != 403 {
		t.Errorf("login from another origin: %d", w.Code)
	}
	for _, bad := range []string{"", "nonsense", access.TokenPrefix + "forged", strings.Repeat("x", 5000)} {
		w := post(url.Values{"token": {bad}, "csrf": {tok}})
		if w.Code != 401 || !strings.Contains(w.Body.String(), "not known") || hasSession(w) {
			t.Errorf("login with %.20q: %d", bad, w.Code)
		}
	}
	w := post(url.Values{"token": {" " + f.tokens[store.RoleDPO] + "\n"}, "csrf": {tok}, "next": {"/console/devices?liveness=missing"}})
	if w.Code != 303 || w.Header().Get("Location") != "/console/devices?liveness=missing" {
		t.Fatalf("login: %d to %q", w.Code, w.Header().Get("Location"))
	}
	var sc *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/console/" || sc.MaxAge != 8*3600 {
		t.Fatalf("session cookie %+v", sc)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sc.Value)
	if strings.Contains(sc.Value, f.tokens[store.RoleDPO]) || len(raw) != 72 {
		t.Errorf("the cookie holds %d bytes", len(raw))
	}
	// The cookie works, and shows who is signed in.
	req := httptest.NewRequest("GET", "https://"+testHost+"/console/", nil)
	req.AddCookie(sc)
	rw := httptest.NewRecorder()
	f.h.ServeHTTP(rw, req)
	if rw.Code != 200 || !strings.Contains(rw.Body.String(), "user-dpo (dpo)") {
		t.Errorf("with the new cookie: %d", rw.Code)
	}
	// A login link cannot send a person to another site.
	for _, next := range []string{"//evil.example/", "https://evil.example/console/", "/console/../api/v1/", "/elsewhere", "/console/\\evil"} {
		w := post(url.Values{"token": {f.tokens[store.RoleDPO]}, "csrf": {tok}, "next": {next}})
		if w.Header().Get("Location") != "/console/" {
			t.Errorf("next=%q: to %q", next, w.Header().Get("Location"))
		}
	}
	// A revoked token cannot sign in.
	toks, _ := f.st.APITokens(context.Background(), "user-auditor")
	f.st.RevokeAPIToken(context.Background(), toks[0].ID, f.now)
	if w := post(url.Values{"token": {f.tokens[store.RoleAuditor]}, "csrf": {tok}}); w.Code != 401 || !strings.Contains(w.Body.String(), "revoked") {
		t.Errorf("login with a revoked token: %d", w.Code)
	}
	// Logging out clears the cookie.
	w = f.do("POST", "/console/logout", store.RoleITSecurity, url.Values{})
	if w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/console/login") {
		t.Errorf("logout: %d to %q", w.Code, w.Header().Get("Location"))
	}
	cleared := false
	for _, c := range w.Result().Cookies() {
		cleared = cleared || c.Name == sessionCookie && c.MaxAge < 0
	}
	if !cleared {
		t.Errorf("logout did not clear the cookie")
	}
	// Sign-ins and outs are audited.
	log, _ := f.st.AuditLog(context.Background(), time.Time{}, f.now.Add(time.Hour), 0)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Actor+" "+e.Action)
	}
	if j := strings.Join(actions, ","); !strings.Contains(j, "user-dpo console.login") || !strings.Contains(j, "user-it-security console.logout") {
		t.Errorf("audit log: %s", j)
	}
	// Without a session, a page goes to the login page and comes back.
	w = f.do("GET", "/console/devices?user=sam", "", nil)
	if w.Code != 303 || w.Header().Get("Location") != "/console/login?next="+url.QueryEscape("/console/devices?user=sam") {
		t.Errorf("no session: %d to %q", w.Code, w.Header().Get("Location"))
	}
}

func hasSession(w *httptest.ResponseRecorder) bool {
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie && c.MaxAge > 0 {
			return true
		}
	}
	return false
}

// TestCookieTampering: a cookie with any byte changed, expired, made with
// another secret or for an unknown token goes to the login page.
func TestCookieTampering(t *testing.T) {
	f := newFixture(t)
	good := f.session(store.RoleITSecurity)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	get := func(v string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "https://"+testHost+"/console/devices", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		return w
	}
	if w := get(good); w.Code != 200 {
		t.Fatalf("the good cookie: %d", w.Code)
	}
	toLogin := func(what string, w *httptest.ResponseRecorder) {
		t.Helper()
		if w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/console/login") {
			t.Errorf("%s: %d to %q, want the login page", what, w.Code, w.Header().Get("Location"))
		}
	}
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		toLogin(fmt.Sprintf("byte %d flipped", i), get(base64.RawURLEncoding.EncodeToString(b)))
	}
	toLogin("truncated", get(good[:len(good)-2]))
	toLogin("garbage", get("not base64 !"))
	toLogin("empty", get(""))
	toLogin("expired", get(f.c.sessionValue(access.Hash(f.tokens[store.RoleITSecurity]), f.now)))
	toLogin("an unknown token", get(f.c.sessionValue(access.Hash(access.TokenPrefix+"nobody"), f.now.Add(time.Hour))))
	other, err := New(Config{Store: f.st, Secret: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	toLogin("another secret", get(other.sessionValue(access.Hash(f.tokens[store.RoleITSecurity]), f.now.Add(time.Hour))))
	// A bad cookie is cleared.
	w := get("x")
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie && c.MaxAge >= 0 {
			t.Errorf("a bad cookie is not cleared: %+v", c)
		}
	}
}

// TestRevocation: a revoked token's session ends at its next request.
func TestRevocation(t *testing.T) {
	f := newFixture(t)
	if w := f.do("GET", "/console/", store.RoleDPO, nil); w.Code != 200 {
		t.Fatalf("before: %d", w.Code)
	}
	toks, _ := f.st.APITokens(context.Background(), "user-dpo")
	if err := f.st.RevokeAPIToken(context.Background(), toks[0].ID, f.now); err != nil {
		t.Fatal(err)
	}
	if w := f.do("GET", "/console/", store.RoleDPO, nil); w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/console/login") {
		t.Errorf("after revoking: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := f.do("POST", "/console/devices/dev-a/decision", store.RoleDPO, url.Values{"notify": {"no"}, "reasons": {"x"}}); w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/console/login") {
		t.Errorf("posting after revoking: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if d, _ := f.st.Decisions(context.Background(), "dev-a"); len(d) != 0 {
		t.Errorf("a revoked session recorded %v", d)
	}
}

// TestEscaping: what devices report is text on every page.
func TestEscaping(t *testing.T) {
	f := newFixture(t)
	if w := f.do("POST", "/console/devices/dev-b/lost", store.RoleITSecurity, withNote(lostForm(f), `</textarea><script>alert(4)</script>`)); w.Code != 303 {
		t.Fatalf("mark lost: %d", w.Code)
	}
	lost := url.QueryEscape(f.now.Format(time.RFC3339))
	for _, p := range []string{"/console/", "/console/devices", "/console/devices/dev-b", "/console/events?device=dev-b",
		"/console/cases?ref=" + url.QueryEscape(evilRef), "/console/compliance?at=" + lost, "/console/devices/dev-b/assessment",
		"/console/devices/dev-b/assessment?format=print", "/console/audit"} {
		w := f.do("GET", p, store.RoleITSecurity, nil)
		body := w.Body.String()
		if w.Code != 200 {
			t.Errorf("GET %s: %d", p, w.Code)
		}
		for _, evil := range []string{evilHost, evilUser, evilRef, evilDetail, "<script>alert(4)", "<img"} {
			if strings.Contains(body, evil) {
				t.Errorf("GET %s: %q unescaped", p, evil)
			}
		}
		if p == "/console/devices/dev-b" {
			for _, esc := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;eve&lt;/b&gt;", "&lt;img src=x onerror=alert(3)&gt;", "&lt;/textarea&gt;&lt;script&gt;alert(4)&lt;/script&gt;"} {
				if !strings.Contains(body, esc) {
					t.Errorf("GET %s: no %q", p, esc)
				}
			}
		}
	}
	// A case reference in a link is a query value, not markup.
	body := f.do("GET", "/console/devices/dev-b", store.RoleAuditor, nil).Body.String()
	if !strings.Contains(body, `href="/console/cases?ref=%22%3e%3cimg%20src%3dx%20onerror%3dalert%282%29%3e"`) {
		t.Errorf("case ref link not escaped as a query value:\n%s", body)
	}
}

func withNote(v url.Values, note string) url.Values {
	v = cloneValues(v)
	v.Set("note", note)
	return v
}

// TestAssessmentAudited: viewing an assessment, in any form, is in the
// audit log with who viewed it; its statements hold the device's facts.
func TestAssessmentAudited(t *testing.T) {
	f := newFixture(t)
	if w := f.do("POST", "/console/devices/dev-a/lost", store.RoleITSecurity, lostForm(f)); w.Code != 303 {
		t.Fatalf("mark lost: %d", w.Code)
	}
	w := f.do("GET", "/console/devices/dev-a/assessment", store.RoleDPO, nil)
	body := w.Body.String()
	for _, want := range []string{
		"All 3 cached files for 2 case references in its vault were sealed (encrypted) at that time",
		"Full-disk encryption of the system volume was on.",
		"1 unapproved removable volume was reported in the 30 days before the loss.",
		"The device has not reported since the loss.",
		"USB 0781:5567 SanDisk",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("assessment: no %q:\n%s", want, body)
		}
	}
	f.do("GET", "/console/devices/dev-a/assessment?format=json", store.RoleITSecurity, nil)
	var a struct{ Statements []string }
	if err := json.Unmarshal(f.do("GET", "/console/devices/dev-a/assessment?format=json", store.RoleDPO, nil).Body.Bytes(), &a); err != nil || len(a.Statements) < 5 {
		t.Errorf("assessment JSON: %v %v", a, err)
	}
	log, _ := f.st.AuditLog(context.Background(), time.Time{}, f.now.Add(time.Hour), 0)
	var views []string
	for _, e := range log {
		if e.Action == "report.view" {
			views = append(views, e.Actor+" "+e.Target+" "+e.Detail)
		}
	}
	if len(views) != 3 || !strings.HasPrefix(views[2], "user-dpo dev-a lost-device assessment") || !strings.Contains(views[0], "(json)") {
		t.Errorf("report.view entries: %q", views)
	}
}

// TestNew refuses a console it could not run safely.
func TestNew(t *testing.T) {
	if _, err := New(Config{Secret: make([]byte, 32)}); err == nil {
		t.Error("no store")
	}
	f := newEmptyFixture(t)
	if _, err := New(Config{Store: f.st, Secret: make([]byte, 16)}); err == nil {
		t.Error("a short secret")
	}
	// No policy: liveness is unknown, and the pages still render.
	c, err := New(Config{Store: f.st, Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	f.c, f.h = c, c.Handler()
	f.device("dev-x", "x", "x")
	if w := f.do("GET", "/console/", store.RoleAuditor, nil); w.Code != 200 || !strings.Contains(w.Body.String(), "No policy is published") {
		t.Errorf("no policy: %d\n%s", w.Code, w.Body.String())
	}
}
