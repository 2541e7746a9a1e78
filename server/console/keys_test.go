package console

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/store"
)

// wipeWording is what the wipe form says happens, word for word.
const wipeWording = "The laptop's vault key, every copy of its lease and its sealed files are destroyed when it next contacts the server, however long it has been offline (a wipe never expires); until then the server refuses to serve its key. You can cancel until it is delivered. The council's escrow keys open copies of its files kept elsewhere, not the laptop's."

// commandsOn gives dev-a one command in each state: a lock cancelled, a
// wipe delivered and acknowledged failed, a lock delivered not
// acknowledged, an unlock done, and a wipe requested; and returns them.
func commandsOn(t *testing.T, f *fixture) map[string]store.Command {
	t.Helper()
	ctx := context.Background()
	act := &actions.Actions{Store: f.st, Now: func() time.Time { return f.now.Add(-time.Hour) }}
	must := func(c store.Command, err error) store.Command {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cs := map[string]store.Command{}
	cs["cancelled"] = must(act.Lock(ctx, "it", "dev-a"))
	must(act.CancelCommand(ctx, "it", "dev-a", cs["cancelled"].ID))
	cs["failed"] = must(act.RequestWipe(ctx, "it", "dev-a"))
	cs["delivered"] = must(act.Lock(ctx, "it", "dev-a"))
	cs["done"] = must(act.Unlock(ctx, "it", "dev-a"))
	if _, err := f.st.DeliverCommands(ctx, "dev-a", f.now.Add(-50*time.Minute), 10); err != nil {
		t.Fatal(err)
	}
	h := (&chain{dev: "dev-a", seq: 100}).next(f.now.Add(-40*time.Minute), store.State{Compliant: true}, nil)
	h.PrevHash = nil
	h.Acks = []store.CommandAck{
		{ID: cs["failed"].ID, Type: wire.CommandWipe, Result: wire.AckFailed, Reason: `the cache <b>could not</b> be read`, At: f.now.Add(-41 * time.Minute)},
		{ID: cs["done"].ID, Type: wire.CommandUnlock, Result: wire.AckDone, Reason: "unlocked; 3 files left", At: f.now.Add(-41 * time.Minute)},
	}
	if _, err := f.st.Ingest(ctx, []store.Heartbeat{h}); err != nil {
		t.Fatal(err)
	}
	cs["requested"] = must(act.RequestWipe(ctx, "it", "dev-a"))
	return cs
}

var rowText = regexp.MustCompile(`(?s)<tr id="command-([^"]+)">(.*?)</tr>`)
var tags = regexp.MustCompile(`<[^>]+>`)

// commandRows returns the text of each command row of a device page, by
// command ID, and whether it has a cancel button.
func commandRows(page string) (map[string]string, map[string]bool) {
	text, cancel := map[string]string{}, map[string]bool{}
	for _, m := range rowText.FindAllStringSubmatch(page, -1) {
		text[m[1]] = html.UnescapeString(tags.ReplaceAllString(m[2], " "))
		cancel[m[1]] = strings.Contains(m[2], `class="cancel"`)
	}
	return text, cancel
}

// TestDeviceCommands: the device page shows each command as requested,
// delivered, done or failed (with the agent's reason, escaped), never
// done without the acknowledgement; a cancel button only for one not yet
// delivered, and only to it-security.
func TestDeviceCommands(t *testing.T) {
	f := newFixture(t)
	cs := commandsOn(t, f)
	page := f.do("GET", "/console/devices/dev-a", store.RoleITSecurity, nil).Body.String()
	text, cancel := commandRows(page)
	for state, want := range map[string]string{
		"cancelled": "cancelled " + f.now.Add(-time.Hour).Format("2006-01-02 15:04 UTC") + " by it, before it was delivered",
		"failed": "failed , acknowledged " + f.now.Add(-40*time.Minute).Format("2006-01-02 15:04 UTC") +
			" (the agent says " + f.now.Add(-41*time.Minute).Format("2006-01-02 15:04 UTC") + "): the cache <b>could not</b> be read",
		"delivered": "delivered  " + f.now.Add(-50*time.Minute).Format("2006-01-02 15:04 UTC") + ": not yet acknowledged",
		"done": "done , acknowledged " + f.now.Add(-40*time.Minute).Format("2006-01-02 15:04 UTC") +
			" (the agent says " + f.now.Add(-41*time.Minute).Format("2006-01-02 15:04 UTC") + "): unlocked; 3 files left",
		"requested": "requested : not yet delivered",
	} {
		id := cs[state].ID
		if !strings.Contains(text[id], want) {
			t.Errorf("%s: %q, want %q", state, text[id], want)
		}
		if cancel[id] != (state == "requested") {
			t.Errorf("%s: a cancel button %v", state, cancel[id])
		}
	}
	if strings.Contains(text[cs["delivered"].ID], "done") {
		t.Errorf("delivered, not acknowledged, shown done: %q", text[cs["delivered"].ID])
	}
	if strings.Contains(page, "<b>could not</b>") {
		t.Errorf("the agent's reason is not escaped")
	}
	if !strings.Contains(page, `id="wipe-what">`+wipeWording+`</p>`) {
		t.Errorf("the wipe form does not say %q", wipeWording)
	}
	if !strings.Contains(page, `id="wipe-banner"`) || !strings.Contains(page, `id="lock-form"`) || strings.Contains(page, `id="unlock-form"`) {
		t.Errorf("a wipe requested and no lock in force: banner and forms wrong")
	}
	// The auditor sees the states, and no cancel button.
	page = f.do("GET", "/console/devices/dev-a", store.RoleAuditor, nil).Body.String()
	if text, cancel := commandRows(page); len(text) != 5 || cancel[cs["requested"].ID] {
		t.Errorf("as auditor: %d rows, cancel %v", len(text), cancel)
	}

	// Cancel the requested wipe; the delivered lock cannot be.
	path := "/console/devices/dev-a/commands/" + cs["requested"].ID + "/cancel"
	if w := f.do("POST", path, store.RoleAuditor, url.Values{}); w.Code != 403 {
		t.Errorf("cancelling as auditor: %d", w.Code)
	}
	if w := f.do("POST", path, store.RoleITSecurity, url.Values{}); w.Code != 303 || w.Header().Get("Location") != "/console/devices/dev-a?done=cancel" {
		t.Errorf("cancelling: %d %s", w.Code, w.Header().Get("Location"))
	}
	w := f.do("POST", "/console/devices/dev-a/commands/"+cs["delivered"].ID+"/cancel", store.RoleITSecurity, url.Values{})
	if w.Code != 409 || !strings.Contains(w.Body.String(), "can no longer be cancelled") {
		t.Errorf("cancelling a delivered lock: %d", w.Code)
	}
	if w := f.do("POST", "/console/devices/dev-a/commands/cmd_nope/cancel", store.RoleITSecurity, url.Values{}); w.Code != 404 {
		t.Errorf("cancelling an unknown command: %d", w.Code)
	}
	got, _ := f.st.Commands(context.Background(), "dev-a")
	for _, c := range got {
		if (c.ID == cs["requested"].ID) != (c.Status(f.now) == store.StatusCancelled) && c.ID != cs["cancelled"].ID {
			t.Errorf("%s %s is %s", c.Type, c.ID, c.Status(f.now))
		}
	}
}

// TestDeviceLeaseLog: the device page shows the lease log newest first,
// at most 50 entries, what each asked for and got; the sources are
// escaped.
func TestDeviceLeaseLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var reqs []store.LeaseRequest
	for i := range 60 {
		r := store.LeaseRequest{DeviceID: "dev-a", Kind: store.LeaseKindRenew, At: f.now.Add(time.Duration(i-60) * time.Minute), Window: 72 * time.Hour,
			Source: fmt.Sprintf("192.0.2.%d:443", i), Nonce: wire.NewNonce()}
		if i == 0 {
			r.Kind, r.Nonce = store.LeaseKindEnroll, ""
		}
		reqs = append(reqs, r)
	}
	if _, err := f.st.ServeLeases(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := f.st.MarkLost(ctx, store.LostReport{DeviceID: "dev-a", LostAt: f.now, DiscoveredAt: f.now, RecordedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	refused := store.LeaseRequest{DeviceID: "dev-a", Kind: store.LeaseKindKey, At: f.now, Window: 72 * time.Hour, Source: evilHost, Nonce: wire.NewNonce()}
	if _, err := f.st.ServeLeases(ctx, []store.LeaseRequest{refused}); err != nil {
		t.Fatal(err)
	}
	page := f.do("GET", "/console/devices/dev-a", store.RoleAuditor, nil).Body.String()
	rows := regexp.MustCompile(`(?s)<table id="leases">.*?</table>`).FindString(page)
	trs := regexp.MustCompile(`(?s)<tr><td>(.*?)</tr>`).FindAllStringSubmatch(rows, -1)
	if len(trs) != 50 {
		t.Fatalf("%d lease rows, want 50", len(trs))
	}
	first := html.UnescapeString(tags.ReplaceAllString(trs[0][1], " "))
	if !strings.Contains(first, evilHost) || !strings.Contains(first, "refused : lost") || strings.Contains(page, evilHost) {
		t.Errorf("the newest row %q (the source must be escaped)", first)
	}
	second := html.UnescapeString(tags.ReplaceAllString(trs[1][1], " "))
	if !strings.Contains(second, "192.0.2.59:443") || !strings.Contains(second, "served, valid until "+f.now.Add(-time.Minute+72*time.Hour).Format("2006-01-02 15:04 UTC")) {
		t.Errorf("the second row %q", second)
	}
	if !strings.Contains(page, "Only the newest 50 are shown") {
		t.Errorf("the page does not say the log is cut")
	}
	if !strings.Contains(page, `id="lease-served">`+f.now.Add(-time.Minute).Format("2006-01-02 15:04 UTC")) || strings.Contains(page, `id="found-form"`) {
		t.Errorf("as auditor: the last lease served missing, or the found form shown: %s", regexp.MustCompile(`id="lease-served">[^<]*`).FindString(page))
	}
	if page := f.do("GET", "/console/devices/dev-a", store.RoleITSecurity, nil).Body.String(); !strings.Contains(page, `id="found-form"`) {
		t.Errorf("as it-security, lost: no found form")
	}
}

// TestBrowserCommands: in a real browser, it-security locks a device and
// unlocks it, requests a wipe and cancels it, and marks it found.
func TestBrowserCommands(t *testing.T) {
	f := newFixture(t)
	b := newTab(t, f)
	b.login(store.RoleITSecurity, "/console/devices/dev-a")
	if got := b.text("#wipe-what"); got != wipeWording {
		t.Errorf("the wipe form says %q", got)
	}
	if st := b.submit(chromedp.Click(chromedp.ID("lock"))); st != 200 || !strings.Contains(b.text("#flash"), "A lock is requested") || b.count("#lock-banner") != 1 {
		t.Fatalf("lock: %d %q", st, b.text("#flash"))
	}
	if st := b.submit(chromedp.Click(chromedp.ID("unlock"))); st != 200 || !strings.Contains(b.text("#flash"), "An unlock is requested") || b.count("#lock-banner") != 0 {
		t.Fatalf("unlock: %d %q", st, b.text("#flash"))
	}
	if st := b.submit(chromedp.Click(chromedp.ID("wipe-confirm")), chromedp.Click(chromedp.ID("request-wipe"))); st != 200 || b.count("#wipe-banner") != 1 {
		t.Fatalf("wipe: %d", st)
	}
	if n := b.count("#commands form.cancel"); n != 3 {
		t.Errorf("%d cancel buttons, want 3 (nothing delivered yet)", n)
	}
	if st := b.submit(chromedp.Click(chromedp.CSS(`#commands tbody tr:last-child form.cancel button`))); st != 200 || !strings.Contains(b.text("#flash"), "The command is cancelled") {
		t.Fatalf("cancel: %d %q", st, b.text("#flash"))
	}
	if b.count("#wipe-banner") != 0 || !strings.Contains(b.text("#commands tbody tr:last-child"), "cancelled") {
		t.Errorf("after cancelling the wipe: %q", b.text("#commands tbody tr:last-child"))
	}
	// Lost, then found.
	b.submit(chromedp.SetValue(chromedp.ID("lost-at"), f.now.Add(-time.Minute).Format("2006-01-02T15:04Z")), chromedp.Click(chromedp.ID("mark-lost")))
	if st := b.submit(chromedp.Click(chromedp.ID("mark-found"))); st != 200 || !strings.Contains(b.text("#flash"), "marked found") || b.count("#lost-banner") != 0 {
		t.Errorf("found: %d %q", st, b.text("#flash"))
	}
}
