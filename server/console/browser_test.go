package console

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/server/store"
)

// One headless Chromium serves every browser test in the package; each
// test gets its own browser context (its own cookies) and tab.
var browser struct {
	once   sync.Once
	ctx    context.Context // the first tab's: the browser lives as long as it
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// chromiumPath finds Debian's chromium (or another Chrome on PATH).
func chromiumPath() string {
	if p := os.Getenv("CASEKEEP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// tab is a browser tab on a running console, with the dialogs it saw.
type tab struct {
	t       *testing.T
	f       *fixture
	url     string // the server's
	ctx     context.Context
	dialogs atomic.Int32
}

// newTab starts the console on an httptest TLS server and opens a tab in
// a fresh browser context. It skips (fails under CI) without Chromium.
func newTab(t *testing.T, f *fixture) *tab {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		testenv.Unavailable(t, "the browser tests need Chromium: apt-get install chromium")
	}
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.IgnoreCertErrors,
			chromedp.DisableGPU,
			chromedp.Flag("disable-dev-shm-usage", true),
		)
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox)
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		browser.ctx, browser.cancel = ctx, func() { cancel(); cancelAlloc() }
		browser.err = chromedp.Do(ctx) // starts the browser, with no timeout
	})
	if browser.err != nil {
		t.Fatalf("starting %s: %v", path, browser.err)
	}
	srv := httptest.NewTLSServer(f.h)
	t.Cleanup(srv.Close)
	ctx, cancelTimeout := context.WithTimeout(browser.ctx, 60*time.Second)
	ctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() { cancel(); cancelTimeout() })
	tb := &tab{t: t, f: f, url: srv.URL, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	// Any JavaScript dialog (an alert from an injected script) is counted
	// and dismissed.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			tb.dialogs.Add(1)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return tb
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// submit runs steps that submit a form or follow a link, waits for the
// page, and returns its HTTP status.
func (b *tab) submit(steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.Status
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

func (b *tab) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (b *tab) location() string {
	b.t.Helper()
	l, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(l, b.url)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// login opens a console page, is sent to the login page, pastes the
// role's token and comes back.
func (b *tab) login(role store.Role, path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.url + path))
	if l := b.location(); !strings.HasPrefix(l, "/console/login?next=") {
		b.t.Fatalf("without a session %s went to %s", path, l)
	}
	if st := b.submit(chromedp.SetValue(chromedp.ID("token"), b.f.tokens[role]), chromedp.Click(chromedp.ID("signin"))); st != 200 {
		b.t.Fatalf("signing in: %d", st)
	}
	if l := b.location(); l != path {
		b.t.Fatalf("signed in at %s, want %s", l, path)
	}
	if who := b.text("#who"); who != "user-"+string(role)+" ("+string(role)+")" {
		b.t.Fatalf("signed in as %q", who)
	}
}

// TestBrowserITSecurity: IT security signs in, reads the fleet, filters the
// list, opens a device, marks it lost, and reads the assessment.
func TestBrowserITSecurity(t *testing.T) {
	f := newFixture(t)
	b := newTab(t, f)
	b.login(store.RoleITSecurity, "/console/")
	if b.text("#title") != "Fleet" || b.text("#live-online") != "2" || b.text("#live-missing") != "1" || b.text("#comp-non-compliant") != "1" {
		t.Errorf("fleet page: %q online %s", b.text("#title"), b.text("#live-online"))
	}
	// The stylesheet loads under the Content-Security-Policy.
	if d := b.eval(`getComputedStyle(document.querySelector('header.top')).display`); d != "flex" {
		t.Errorf("console.css not applied: the header's display is %q", d)
	}
	if first := b.text("#attention tbody tr:first-child td:first-child"); first != evilHost {
		t.Errorf("first to look at: %q", first)
	}

	// Filter: online and compliant is laptop-1 alone.
	b.submit(chromedp.Click(chromedp.CSS(`nav a[href="/console/devices"]`)))
	if got := b.count("#devices tbody tr"); got != 5 {
		t.Errorf("%d devices listed, want 5", got)
	}
	b.submit(chromedp.SetValue(chromedp.ID("f-liveness"), "online"), chromedp.SetValue(chromedp.ID("f-compliant"), "true"), chromedp.Click(chromedp.ID("filter")))
	if l := b.location(); !strings.Contains(l, "liveness=online") || !strings.Contains(l, "compliant=true") {
		t.Errorf("filtered at %s", l)
	}
	if got, c := b.count("#devices tbody tr"), b.text("#count"); got != 1 || !strings.HasPrefix(c, "1 of 5 devices") {
		t.Fatalf("filtered: %d rows, %q", got, c)
	}
	if href, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.ID("csv"), "href")); err != nil || !strings.Contains(href.Value, "format=csv") || !strings.Contains(href.Value, "liveness=online") {
		t.Errorf("CSV link %v, %v", href, err)
	}

	// The device.
	if st := b.submit(chromedp.Click(chromedp.CSS(`#devices tbody a`))); st != 200 {
		t.Fatalf("device page: %d", st)
	}
	if b.location() != "/console/devices/dev-a" || b.text("#hostname") != "laptop-1" {
		t.Fatalf("at %s: %q", b.location(), b.text("#hostname"))
	}
	if got := b.count("#holdings tbody tr"); got != 2 {
		t.Errorf("%d case refs held, want 2", got)
	}
	if got := b.count("#timeline tbody tr"); got < 3 {
		t.Errorf("%d timeline entries", got)
	}

	// Mark it lost: a minute ago, discovered now.
	lostAt, discovered := f.now.Add(-time.Minute).Format("2006-01-02T15:04Z"), f.now.Format("2006-01-02T15:04Z")
	st := b.submit(
		chromedp.SetValue(chromedp.ID("lost-at"), lostAt),
		chromedp.SetValue(chromedp.ID("discovered-at"), discovered),
		chromedp.SetValue(chromedp.ID("lost-note"), "left on the 08:12 to Leeds"),
		chromedp.Click(chromedp.ID("mark-lost")),
	)
	if st != 200 || !strings.Contains(b.text("#flash"), "marked lost") || !strings.Contains(b.text("#lost"), "left on the 08:12 to Leeds") {
		t.Fatalf("after marking lost: %d %q", st, b.text("#flash"))
	}

	// The assessment form is filled in from the lost report.
	if st := b.submit(chromedp.Click(chromedp.ID("assess"))); st != 200 {
		t.Fatalf("assessment: %d", st)
	}
	statements := b.text("#statements")
	for _, want := range []string{
		"The last heartbeat before the loss was received at " + f.now.Add(-3*time.Minute).Format("2006-01-02 15:04 UTC") + ", 2 min before it.",
		"All 3 cached files for 2 case references in its vault were sealed (encrypted) at that time; no plaintext file was waiting to be sealed.",
		"Full-disk encryption of the system volume was on.",
		"1 unapproved removable volume was reported in the 30 days before the loss.",
		"The heartbeat hash chain has no gaps",
		"The device has not reported since the loss.",
		"counted from discovery at " + f.now.Format("2006-01-02 15:04 UTC") + ", end at " + f.now.Add(72*time.Hour).Format("2006-01-02 15:04 UTC"),
		"No notification decision has been recorded yet.",
	} {
		if !strings.Contains(statements, want) {
			t.Errorf("the statements do not say %q:\n%s", want, statements)
		}
	}
	if d := b.text("#deadline"); d != f.now.Add(72*time.Hour).Format("2006-01-02 15:04 UTC") {
		t.Errorf("deadline %q", d)
	}
	// The printable page opens and is styled by its own (hashed) style.
	if st := b.submit(chromedp.Click(chromedp.ID("print"))); st != 200 || !strings.Contains(b.text("#statements"), "Full-disk encryption") {
		t.Errorf("printable page: %d", st)
	}
	if w := b.eval(`getComputedStyle(document.body).maxWidth`); w == "none" {
		t.Errorf("the printable page's inline style was blocked")
	}
	if b.dialogs.Load() != 0 {
		t.Errorf("%d JavaScript dialogs opened", b.dialogs.Load())
	}
	var actions []string
	log, _ := f.st.AuditLog(context.Background(), time.Time{}, f.now.Add(time.Hour), 0)
	for _, e := range log {
		actions = append(actions, e.Actor+" "+e.Action)
	}
	if j := strings.Join(actions, ","); j != "user-it-security report.view,user-it-security report.view,user-it-security device.mark_lost,user-it-security console.login" {
		t.Errorf("audit log: %s", j)
	}
}

// TestBrowserEscaping: a hostile hostname, user, case reference and event
// detail are shown as text, and no script runs.
func TestBrowserEscaping(t *testing.T) {
	f := newFixture(t)
	b := newTab(t, f)
	b.login(store.RoleDPO, "/console/devices/dev-b")
	if h, u := b.text("#hostname"), b.text("#user"); h != evilHost || u != evilUser {
		t.Errorf("hostname %q, user %q", h, u)
	}
	if title := b.text("#title"); title != evilHost {
		t.Errorf("title %q", title)
	}
	if tl := b.text("#timeline"); !strings.Contains(tl, evilDetail) {
		t.Errorf("timeline: %q", tl)
	}
	if h := b.text("#holdings"); !strings.Contains(h, evilRef) {
		t.Errorf("holdings: %q", h)
	}
	for _, p := range []string{"/console/", "/console/devices", "/console/devices/dev-b", "/console/events?device=dev-b"} {
		b.do(chromedp.Navigate(b.url + p))
		if n := b.count("script, img"); n != 0 {
			t.Errorf("%s: %d script or img elements", p, n)
		}
	}
	// Following the case reference's link searches for exactly it.
	b.do(chromedp.Navigate(b.url + "/console/devices/dev-b"))
	b.submit(chromedp.Click(chromedp.CSS(`#holdings a`)))
	if v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("ref"))); err != nil || v != evilRef {
		t.Errorf("case search for %q, %v", v, err)
	}
	if s := b.text("#summary"); !strings.HasPrefix(s, "1 device has held "+evilRef) {
		t.Errorf("case search: %q", s)
	}
	if n := b.count("script, img"); n != 0 {
		t.Errorf("case search: %d script or img elements", n)
	}
	if b.dialogs.Load() != 0 {
		t.Errorf("%d JavaScript dialogs opened", b.dialogs.Load())
	}
}

// forge adds a form to the page that posts to action with fields (the
// way another page, or a tampered one, would) and submits it.
func (b *tab) forge(action string, fields map[string]string) int64 {
	b.t.Helper()
	js := `(() => { const f = document.createElement('form'); f.method = 'post'; f.action = ` + jsString(action) + `;`
	for k, v := range fields {
		js += `{ const i = document.createElement('input'); i.type = 'hidden'; i.name = ` + jsString(k) + `; i.value = ` + jsString(v) + `; f.appendChild(i); }`
	}
	js += `document.body.appendChild(f); f.submit(); })()`
	return b.submit(chromedp.Evaluate[chromedp.Void](js))
}

// TestBrowserAuditor: an auditor sees no action forms, and a forged post
// with their own valid CSRF token is refused.
func TestBrowserAuditor(t *testing.T) {
	f := newFixture(t)
	b := newTab(t, f)
	b.login(store.RoleAuditor, "/console/devices/dev-a")
	if n := b.count(`#actions, form[method="post"]:not(.who)`); n != 0 {
		t.Errorf("the auditor sees %d action forms", n)
	}
	if n := b.count(`a[href*="assessment"]`); n != 0 {
		t.Errorf("the auditor sees %d assessment links", n)
	}
	csrf, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(`form.who input[name="csrf"]`)))
	if err != nil || csrf == "" {
		t.Fatalf("no CSRF token on the page: %v", err)
	}
	for path, fields := range map[string]map[string]string{
		"/console/devices/dev-a/lost":     {"csrf": csrf, "lost_at": f.now.Add(-time.Hour).Format(time.RFC3339)},
		"/console/devices/dev-a/wipe":     {"csrf": csrf, "confirm": "yes"},
		"/console/devices/dev-a/decision": {"csrf": csrf, "notify": "no", "reasons": "forged"},
	} {
		b.do(chromedp.Navigate(b.url + "/console/devices/dev-a"))
		if st := b.forge(path, fields); st != 403 || !strings.Contains(b.text("#error"), "may not") {
			t.Errorf("forged POST %s: %d", path, st)
		}
	}
	if st := b.submit(chromedp.Navigate(b.url + "/console/devices/dev-a/assessment")); st != 403 {
		t.Errorf("assessment as auditor: %d", st)
	}
	ctx := context.Background()
	lost, _ := f.st.LostReports(ctx, "dev-a")
	wipes, _ := f.st.Commands(ctx, "dev-a")
	decisions, _ := f.st.Decisions(ctx, "dev-a")
	if len(lost)+len(wipes)+len(decisions) != 0 {
		t.Errorf("forged posts stored %v %v %v", lost, wipes, decisions)
	}
}

// TestBrowserCSRF: a form whose CSRF token is removed is refused; the same
// form with it goes through.
func TestBrowserCSRF(t *testing.T) {
	f := newFixture(t)
	b := newTab(t, f)
	b.login(store.RoleITSecurity, "/console/devices/dev-a")
	st := b.submit(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#wipe-form input[name="csrf"]').remove()`),
		chromedp.Click(chromedp.ID("wipe-confirm")),
		chromedp.Click(chromedp.ID("request-wipe")),
	)
	if st != 403 || !strings.Contains(b.text("#error"), "CSRF") {
		t.Errorf("wipe without the CSRF token: %d", st)
	}
	if w, _ := f.st.Commands(context.Background(), "dev-a"); len(w) != 0 {
		t.Errorf("stored %v", w)
	}
	b.do(chromedp.Navigate(b.url + "/console/devices/dev-a"))
	if st := b.submit(chromedp.Click(chromedp.ID("wipe-confirm")), chromedp.Click(chromedp.ID("request-wipe"))); st != 200 || !strings.Contains(b.text("#commands"), "requested: not yet delivered") {
		t.Errorf("wipe: %d", st)
	}
}

// TestBrowserRevoked: once the token is revoked, the next page load goes to
// the login page; signing out also ends the session.
func TestBrowserRevoked(t *testing.T) {
	f := newFixture(t)
	b := newTab(t, f)
	b.login(store.RoleDPO, "/console/audit")
	toks, err := f.st.APITokens(context.Background(), "user-dpo")
	if err != nil || len(toks) != 1 {
		t.Fatal(toks, err)
	}
	if err := f.st.RevokeAPIToken(context.Background(), toks[0].ID, f.now); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(b.url + "/console/devices"))
	if l := b.location(); !strings.HasPrefix(l, "/console/login?next=") {
		t.Errorf("after revoking, at %s", l)
	}
	b.do(chromedp.WaitVisible(chromedp.ID("token")))

	// Sign out.
	b.login(store.RoleAuditor, "/console/")
	b.submit(chromedp.Click(chromedp.ID("logout")))
	b.do(chromedp.Navigate(b.url + "/console/"))
	if l := b.location(); !strings.HasPrefix(l, "/console/login") {
		t.Errorf("after signing out, at %s", l)
	}
	if n := b.count("#who"); n != 0 {
		t.Errorf("still signed in after signing out")
	}
}
