package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/units"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/store"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// maxForm bounds a form's body.
const maxForm = 64 << 10

// Config is what the console needs. Store and Secret are required.
type Config struct {
	Store store.Store
	// Policy returns the policy in force, for liveness; nil (or an error)
	// makes liveness "unknown".
	Policy server.PolicyFunc
	// Secret keys the HMACs of session cookies and CSRF tokens: at least
	// 32 bytes, the same on every server sharing a store, kept secret.
	Secret []byte
	Logger *slog.Logger
	Now    func() time.Time
}

// Console serves /console/.
type Console struct {
	cfg   Config
	guard *access.Guard
	act   *actions.Actions
	log   *slog.Logger
	pages map[string]*template.Template
	// printCSP is the Content-Security-Policy of the printable assessment
	// page, which carries its own inline style.
	printCSP string
}

//go:embed templates/*.html static/*
var files embed.FS

// csp allows no script, styles only from the console, forms only to it.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// New makes the console.
func New(cfg Config) (*Console, error) {
	if cfg.Store == nil {
		return nil, errors.New("console: Store is required")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("console: Secret must be at least 32 bytes")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, log: cfg.Logger, guard: &access.Guard{Store: cfg.Store, Logger: cfg.Logger},
		act: &actions.Actions{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger}}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.printCSP = printCSP()
	return c, nil
}

var funcs = template.FuncMap{
	"when": assess.When,
	"input": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02T15:04Z")
	},
	"span": assess.Span,
	"size": units.Bytes,
	// path escapes one path segment (a device ID, in a link).
	"path":   url.PathEscape,
	"prefix": strings.HasPrefix,
	"list":   func(s ...string) []string { return s },
	"last":   func(v any) int { return reflect.ValueOf(v).Len() - 1 },
	// s is the plural ending for a count: {{n}} file{{s n}}.
	"s": func(n any) string {
		if reflect.ValueOf(n).Int() == 1 {
			return ""
		}
		return "s"
	},
	// times says how many times: "once", "twice", "3 times".
	"times": times,
	// agentFilters are the device list's agent filter's choices.
	"agentFilters": func() any { return agentFilters },
}

// parsePages parses every page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	if _, err := layout.Parse(assess.Body); err != nil { // "assessment-body"
		return nil, err
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

// printCSP allows the printable assessment page's own inline style, by
// its hash, and nothing else.
func printCSP() string {
	var b bytes.Buffer
	(&assess.Assessment{}).WriteHTML(&b)
	styles := ""
	for _, m := range regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllSubmatch(b.Bytes(), -1) {
		h := sha256.Sum256(m[1])
		styles += " 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}
	if styles == "" {
		styles = " 'none'"
	}
	return "default-src 'none'; style-src" + styles + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// Handler returns the handler for /console/.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/static/{file}", c.static)
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	for _, r := range c.routes() {
		mux.Handle(r.pattern, c.auth(r.perm, r.h))
	}
	mux.Handle("/console/", c.auth(access.Read, func(w http.ResponseWriter, r *http.Request, s *session) error {
		return notFound("no such page")
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

type route struct {
	pattern string
	perm    access.Permission
	h       func(http.ResponseWriter, *http.Request, *session) error
}

func (c *Console) routes() []route {
	return []route{
		{"GET /console/{$}", access.Read, c.fleet},
		{"GET /console/devices", access.Read, c.devices},
		{"GET /console/devices/{id}", access.Read, c.device},
		{"POST /console/devices/{id}/lost", access.Act, c.markLost},
		{"POST /console/devices/{id}/found", access.Act, c.found},
		{"POST /console/devices/{id}/wipe", access.Act, c.wipe},
		{"POST /console/devices/{id}/lock", access.Act, c.lock},
		{"POST /console/devices/{id}/unlock", access.Act, c.unlock},
		{"POST /console/devices/{id}/commands/{cid}/cancel", access.Act, c.cancel},
		{"POST /console/devices/{id}/decision", access.Decide, c.decision},
		{"GET /console/devices/{id}/assessment", access.Decide, c.assessment},
		{"GET /console/cases", access.Read, c.cases},
		{"GET /console/compliance", access.Read, c.compliance},
		{"GET /console/events", access.Read, c.events},
		{"GET /console/audit", access.Read, c.audit},
		{"POST /console/logout", access.Read, c.logout},
	}
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	b, err := files.ReadFile("static/" + r.PathValue("file"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.PathValue("file"), ".css") {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(b)
}

// auth runs h for a request with a valid session whose role allows p. A
// request without one goes to the login page; a POST must also come from
// this origin and carry the session's CSRF token, else 403; a role that
// may not do p gets 403.
func (c *Console) auth(p access.Permission, h func(http.ResponseWriter, *http.Request, *session) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !sameOrigin(r) {
			c.forbidden(w, r, nil, "This form was sent from another site.")
			return
		}
		s, err := c.session(r)
		if err != nil {
			if !errors.Is(err, errSession) {
				c.log.Error("console: looking up a session", "err", err)
				c.renderError(w, r, nil, http.StatusServiceUnavailable, "The store could not be reached; try again shortly.")
				return
			}
			if _, err := r.Cookie(sessionCookie); err == nil {
				c.setCookie(w, sessionCookie, "", -1)
			}
			next := Prefix
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.renderError(w, r, s, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !c.checkCSRF(s.cookie, r.PostForm.Get("csrf")) {
				c.forbidden(w, r, s, "This form has no valid CSRF token: reload the page and try again.")
				return
			}
		}
		if !access.Allows(s.who.User.Role, p) {
			c.forbidden(w, r, s, "Your role ("+string(s.who.User.Role)+") may not do this.")
			return
		}
		r = r.WithContext(access.NewContext(r.Context(), s.who))
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// session finds the request's session: a cookie with a good HMAC, not
// expired, whose token is still valid now. errSession if there is none.
func (c *Console) session(r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, errSession
	}
	hash, err := c.parseSession(ck.Value, c.cfg.Now())
	if err != nil {
		return nil, err
	}
	who, err := c.guard.CheckHash(r.Context(), hash)
	switch {
	case errors.Is(err, access.ErrBadToken), errors.Is(err, access.ErrRevokedToken):
		return nil, errSession
	case err != nil:
		return nil, err
	}
	return &session{who: who, cookie: ck.Value, csrf: c.csrfToken(ck.Value)}, nil
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := c.session(r); err == nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, "")
}

type loginData struct {
	Next, Error string
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := c.loginValue(w, r)
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostForm.Get("next")
	}
	c.render(w, r, &session{csrf: c.csrfToken("login" + v)}, status, "login", "Sign in", loginData{Next: localPath(next), Error: msg})
}

// login checks a pasted API token and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		c.forbidden(w, r, nil, "This form was sent from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	lc, err := r.Cookie(loginCookie)
	if err != nil || !c.checkCSRF("login"+lc.Value, r.PostForm.Get("csrf")) {
		c.forbidden(w, r, nil, "This form has no valid CSRF token: reload the sign-in page and try again.")
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	who, err := c.guard.Check(r.Context(), tok)
	switch {
	case errors.Is(err, access.ErrBadToken):
		c.showLogin(w, r, http.StatusUnauthorized, "That token is not known. Paste the whole token, starting "+access.TokenPrefix)
		return
	case errors.Is(err, access.ErrRevokedToken):
		c.showLogin(w, r, http.StatusUnauthorized, "That token has been revoked. Ask IT security for a new one.")
		return
	case err != nil:
		c.log.Error("console: checking a token", "err", err)
		c.renderError(w, r, nil, http.StatusServiceUnavailable, "The store could not be reached; try again shortly.")
		return
	}
	c.setCookie(w, sessionCookie, c.sessionValue(access.Hash(tok), c.cfg.Now().Add(SessionLife)), SessionLife)
	c.setCookie(w, loginCookie, "", -1)
	c.act.SignIn(r.Context(), who.User.Name, who.TokenID) // a failure is logged; the person is signed in
	http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	c.setCookie(w, sessionCookie, "", -1)
	c.act.SignOut(r.Context(), s.who.User.Name, s.who.TokenID) // a failure is logged; the person is signed out
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
	return nil
}

// view is what every page's template gets.
type view struct {
	Title string
	Path  string // the request's path, for the navigation
	User  store.User
	CSRF  string
	// Act and Decide say which forms to show.
	Act, Decide bool
	Flash       string
	Now         time.Time
	Data        any
}

// render writes a page within the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, page, title string, data any) {
	t := c.pages[page]
	v := view{Title: title, Path: r.URL.Path, Now: c.cfg.Now(), Data: data}
	if s != nil {
		v.User, v.CSRF = s.who.User, s.csrf
		v.Act, v.Decide = access.Allows(s.who.User.Role, access.Act), access.Allows(s.who.User.Role, access.Decide)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		c.log.Error("console: rendering a page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

type errorData struct {
	Status  int
	Message string
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, r, s, status, "error", http.StatusText(status), errorData{status, msg})
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, s *session, msg string) {
	c.renderError(w, r, s, http.StatusForbidden, msg)
}

// statusError is an error with the HTTP status and the message to show.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &statusError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(msg string) error { return &statusError{http.StatusNotFound, msg} }

func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var se *statusError
	switch {
	case errors.As(err, &se):
		c.renderError(w, r, s, se.status, se.msg)
	case errors.Is(err, store.ErrNotFound):
		c.renderError(w, r, s, http.StatusNotFound, "Not found.")
	case errors.Is(err, store.ErrInvalid):
		c.renderError(w, r, s, http.StatusBadRequest, err.Error())
	default:
		c.log.Error("console request failed", "path", r.URL.Path, "err", err)
		c.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong; it has been logged.")
	}
}
