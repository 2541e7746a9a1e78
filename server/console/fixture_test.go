package console

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
)

// The hostile strings a device may report.
const (
	evilHost   = `<script>alert(1)</script>`
	evilUser   = `<b>eve</b>`
	evilRef    = `"><img src=x onerror=alert(2)>`
	evilDetail = `<img src=x onerror=alert(3)>`
	formula    = `=cmd|' /C calc'!A0`
)

// fixture is a console over an SQLite store with a person of each role and
// a small fleet:
//
//	dev-a laptop-1   sam  online, compliant, 3 sealed files for 2 case refs,
//	                      an unapproved USB volume 5 days ago
//	dev-b evilHost   eve  online, non-compliant, 2 plaintext files, disk off
//	dev-c formula    sam  enrolled, never reported
//	dev-d old-laptop ann  missing (last seen 40 days ago)
//	dev-e laptop-5   sam  offline (last seen 2 days ago), held LL-100001 before
type fixture struct {
	t      testing.TB
	st     store.Store
	c      *Console
	h      http.Handler
	now    time.Time
	pol    *policy.Policy
	tokens map[store.Role]string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := newEmptyFixture(t)
	f.seedFleet()
	return f
}

func newEmptyFixture(t testing.TB) *fixture {
	t.Helper()
	st, _ := servertest.Store(t)
	f := &fixture{t: t, st: st, now: time.Now().UTC().Truncate(time.Minute)}
	f.pol, _ = servertest.Policy(t, servertest.PolicyYAML(3))
	f.tokens = servertest.People(t, st, f.now)
	secret := sha256.Sum256([]byte("console test secret"))
	var err error
	f.c, err = New(Config{Store: st, Secret: secret[:], Now: func() time.Time { return f.now },
		Policy: func(context.Context) (*policy.Policy, error) { return f.pol, nil }})
	if err != nil {
		t.Fatal(err)
	}
	f.h = f.c.Handler()
	return f
}

// chain makes a device's heartbeats.
type chain struct {
	dev  string
	seq  uint64
	prev []byte
}

func (c *chain) next(at time.Time, st store.State, refs []store.CaseCount, evs ...store.Event) store.Heartbeat {
	c.seq++
	body := fmt.Appendf(nil, `{"device":%q,"seq":%d,"at":%q}`, c.dev, c.seq, at)
	h := sha256.Sum256(body)
	st.Seq, st.Hash, st.SentAt, st.ReceivedAt = c.seq, h[:], at, at
	st.CaseRefs = len(refs)
	if st.AgentVersion == "" {
		st.AgentVersion = "1.0.0"
	}
	if st.PolicyVersion == 0 {
		st.PolicyVersion = 3
	}
	st.PolicyHash, st.Recipient, st.Lease = "sha256:policy", "age1test", "none"
	for i := range evs {
		evs[i].DeviceID, evs[i].Seq = c.dev, c.seq
	}
	hb := store.Heartbeat{DeviceID: c.dev, Seq: c.seq, Hash: h[:], PrevHash: c.prev, Body: body, State: st, Events: evs, CaseRefs: refs}
	c.prev = h[:]
	return hb
}

func (f *fixture) device(id, host, user string) {
	f.t.Helper()
	d := store.Device{ID: id, SigningKey: make([]byte, 32), Hostname: host, OS: "linux", Arch: "amd64", Serial: "SN-" + id, User: user,
		AgentVersion: "1.0.0", EnrolledAt: f.now.Add(-60 * 24 * time.Hour)}
	if err := f.st.CreateDevice(context.Background(), d); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) ingest(hbs ...store.Heartbeat) {
	f.t.Helper()
	out, err := f.st.Ingest(context.Background(), hbs)
	if err != nil {
		f.t.Fatal(err)
	}
	for i, o := range out {
		if o.Result != store.Accepted {
			f.t.Fatalf("heartbeat %d of %s: %v", hbs[i].Seq, hbs[i].DeviceID, o.Result)
		}
	}
}

func (f *fixture) seedFleet() {
	f.t.Helper()
	now := f.now
	good := store.State{SealedFiles: 3, SealedBytes: 120_000, DiskEncryption: "pass", Compliant: true}
	f.device("dev-a", "laptop-1", "sam")
	a := &chain{dev: "dev-a"}
	two := good
	two.SealedFiles, two.SealedBytes = 2, 80_000
	f.ingest(
		a.next(now.Add(-10*24*time.Hour), two, []store.CaseCount{{Ref: "LL-100001", Files: 2}}),
		a.next(now.Add(-5*24*time.Hour), two, []store.CaseCount{{Ref: "LL-100001", Files: 2}},
			store.Event{Time: now.Add(-5 * 24 * time.Hour), Type: "storage.volume_unapproved", Detail: "USB 0781:5567 SanDisk"}),
		a.next(now.Add(-3*time.Hour), good, []store.CaseCount{{Ref: "LL-100001", Files: 2}, {Ref: "LL-100002", Files: 1}}),
		a.next(now.Add(-3*time.Minute), good, []store.CaseCount{{Ref: "LL-100001", Files: 2}, {Ref: "LL-100002", Files: 1}}),
	)

	f.device("dev-b", evilHost, evilUser)
	b := &chain{dev: "dev-b"}
	f.ingest(b.next(now.Add(-time.Minute), store.State{SealedFiles: 1, PlaintextFiles: 2, DiskEncryption: "fail"},
		[]store.CaseCount{{Ref: evilRef, Files: 1}},
		store.Event{Time: now.Add(-2 * time.Minute), Type: "sweep.case_file_found", CaseRef: evilRef, Detail: evilDetail}))

	f.device("dev-c", formula, "sam")

	f.device("dev-d", "old-laptop", "ann")
	d := &chain{dev: "dev-d"}
	f.ingest(d.next(now.Add(-40*24*time.Hour), good, nil))

	f.device("dev-e", "laptop-5", "sam")
	e := &chain{dev: "dev-e"}
	f.ingest(e.next(now.Add(-3*24*time.Hour), good, []store.CaseCount{{Ref: "LL-100001", Files: 1}}),
		e.next(now.Add(-2*24*time.Hour), good, nil))
}

// session returns a session cookie value for a role's token.
func (f *fixture) session(r store.Role) string {
	return f.c.sessionValue(access.Hash(f.tokens[r]), f.now.Add(SessionLife))
}

const testHost = "console.test"

// do sends a request to the console as role ("" for no session). A POST
// form gets the session's CSRF token unless it has a "csrf" field already
// (set it to "" to send none).
func (f *fixture) do(method, target string, role store.Role, form url.Values, mods ...func(*http.Request)) *httptest.ResponseRecorder {
	f.t.Helper()
	var body *strings.Reader
	if form != nil {
		form = cloneValues(form)
		if _, ok := form["csrf"]; !ok && role != "" {
			form.Set("csrf", f.c.csrfToken(f.session(role)))
		}
		if form.Get("csrf") == "" {
			form.Del("csrf")
		}
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "https://"+testHost+target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if role != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.session(role)})
	}
	for _, m := range mods {
		m(req)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
