package storetest

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// The cases for [store.Access], run by [Run].

func sameUser(t *testing.T, what string, got, want store.User) {
	t.Helper()
	if got.Name != want.Name || got.Role != want.Role {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	sameTime(t, what+" created at", got.CreatedAt, want.CreatedAt)
}

func sameAPIToken(t *testing.T, what string, got, want store.APIToken) {
	t.Helper()
	if got.ID != want.ID || got.Hash != want.Hash || got.User != want.User || got.Note != want.Note {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" created at", got.CreatedAt, want.CreatedAt)
	if !want.RevokedAt.IsZero() || !got.RevokedAt.IsZero() {
		sameTime(t, what+" revoked at", got.RevokedAt, want.RevokedAt)
	}
}

func sameAudit(t *testing.T, what string, got, want store.AuditEntry) {
	t.Helper()
	if got.ID != want.ID || got.Actor != want.Actor || got.Action != want.Action || got.Target != want.Target ||
		got.Detail != want.Detail {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" time", got.Time, want.Time)
}

// auditIDs returns the entries' IDs, in order.
func auditIDs(es []store.AuditEntry) []int64 {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func sameIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: IDs %v, want %v", what, got, want)
	}
}

// forever is a bound after every time the tests use.
var forever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func testUsers(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	_, err := s.User(ctx, "alice")
	is(t, "User before any", err, store.ErrNotFound)
	if us, err := s.Users(ctx); err != nil || us == nil || len(us) != 0 {
		t.Errorf("Users before any = %#v, %v; want an empty list", us, err)
	}

	zone := time.FixedZone("UTC-03:30", -(3*3600 + 30*60))
	// In byte order: "Zoë" < "alice" < "bob" < "Émile" ('Z' < 'a', and 'É'
	// is two bytes from 0xc3), which no locale's collation gives.
	users := []store.User{
		{Name: "bob", Role: store.RoleDPO, CreatedAt: t0},
		{Name: "Émile", Role: store.RoleAuditor, CreatedAt: t0.In(zone).Add(time.Hour)},
		{Name: "alice", Role: store.RoleITSecurity, CreatedAt: t0.Add(-time.Hour)},
		{Name: "Zoë", Role: store.RoleAuditor, CreatedAt: time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
	for _, u := range users {
		ok(t, s.CreateUser(ctx, u))
	}
	is(t, "CreateUser with a taken name", s.CreateUser(ctx, store.User{Name: "bob", Role: store.RoleITSecurity,
		CreatedAt: t0.Add(time.Hour)}), store.ErrExists)
	got, err := s.User(ctx, "bob")
	ok(t, err)
	sameUser(t, "bob after a second CreateUser", got, users[0])
	got, err = s.User(ctx, "Émile")
	ok(t, err)
	sameUser(t, "Émile", got, users[1])
	for _, name := range []string{"nobody", "Bob", "bob ", "", "nul\x00byte", "\xff"} {
		_, err := s.User(ctx, name)
		is(t, fmt.Sprintf("User(%q)", name), err, store.ErrNotFound)
	}

	all, err := s.Users(ctx)
	ok(t, err)
	want := []store.User{users[3], users[2], users[0], users[1]}
	if len(all) != len(want) {
		t.Fatalf("Users = %+v, want %+v", all, want)
	}
	for i := range all {
		sameUser(t, fmt.Sprintf("user %d", i), all[i], want[i])
	}

	// Invalid users are refused, and nothing is stored.
	for name, u := range map[string]store.User{
		"an unknown role":          {Name: "mallory", Role: "admin", CreatedAt: t0},
		"a role in the wrong case": {Name: "mallory", Role: "DPO", CreatedAt: t0},
		"no role":                  {Name: "mallory", CreatedAt: t0},
		"a role with a NUL":        {Name: "mallory", Role: store.RoleDPO + "\x00", CreatedAt: t0},
		"no name":                  {Role: store.RoleDPO, CreatedAt: t0},
		"a NUL in the name":        {Name: "mal\x00lory", Role: store.RoleDPO, CreatedAt: t0},
		"a name not UTF-8":         {Name: "mal\xc3\x28lory", Role: store.RoleDPO, CreatedAt: t0},
		"a time in year 10000":     {Name: "mallory", Role: store.RoleDPO, CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		is(t, "CreateUser with "+name, s.CreateUser(ctx, u), store.ErrInvalid)
	}
	if all, _ := s.Users(ctx); len(all) != len(users) {
		t.Errorf("%d users after invalid ones, want %d: %+v", len(all), len(users), all)
	}
}

func testAPITokens(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	alice := store.User{Name: "alice", Role: store.RoleITSecurity, CreatedAt: t0.Add(-48 * time.Hour)}
	bob := store.User{Name: "bob", Role: store.RoleAuditor, CreatedAt: t0.Add(-24 * time.Hour)}
	ok(t, s.CreateUser(ctx, alice))
	ok(t, s.CreateUser(ctx, bob))
	hash := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	tb := store.APIToken{ID: "tok-b", Hash: hash("b"), User: "alice", CreatedAt: t0, Note: "console, laptop"}
	ta := store.APIToken{ID: "tok-a", Hash: hash("a"), User: "bob", CreatedAt: t0.Add(time.Minute), Note: hostile[7]}
	tc := store.APIToken{ID: "tok-c", Hash: hash("c"), User: "alice", CreatedAt: t0.Add(2 * time.Minute)}
	for _, tok := range []store.APIToken{tb, ta, tc} {
		ok(t, s.CreateAPIToken(ctx, tok))
	}

	is(t, "CreateAPIToken with a taken ID", s.CreateAPIToken(ctx, store.APIToken{ID: "tok-a", Hash: hash("other"),
		User: "alice", CreatedAt: t0}), store.ErrExists)
	is(t, "CreateAPIToken with a taken hash", s.CreateAPIToken(ctx, store.APIToken{ID: "tok-other", Hash: hash("a"),
		User: "alice", CreatedAt: t0}), store.ErrExists)
	is(t, "CreateAPIToken for an unknown user", s.CreateAPIToken(ctx, store.APIToken{ID: "tok-ghost",
		Hash: hash("ghost"), User: "ghost", CreatedAt: t0}), store.ErrNotFound)
	is(t, "CreateAPIToken for no user", s.CreateAPIToken(ctx, store.APIToken{ID: "tok-nobody",
		Hash: hash("nobody"), CreatedAt: t0}), store.ErrNotFound)
	is(t, "CreateAPIToken for a user in the wrong case", s.CreateAPIToken(ctx, store.APIToken{ID: "tok-Alice",
		Hash: hash("Alice"), User: "Alice", CreatedAt: t0}), store.ErrNotFound)
	for name, tok := range map[string]store.APIToken{
		"no ID":                {Hash: hash("x"), User: "alice", CreatedAt: t0},
		"a NUL in the ID":      {ID: "tok\x00x", Hash: hash("x"), User: "alice", CreatedAt: t0},
		"an ID not UTF-8":      {ID: "tok-\xff", Hash: hash("x"), User: "alice", CreatedAt: t0},
		"a NUL in the note":    {ID: "tok-x", Hash: hash("x"), User: "alice", CreatedAt: t0, Note: "a\x00b"},
		"a NUL in the user":    {ID: "tok-x", Hash: hash("x"), User: "alice\x00", CreatedAt: t0},
		"a time in year 10000": {ID: "tok-x", Hash: hash("x"), User: "alice", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		is(t, "CreateAPIToken with "+name, s.CreateAPIToken(ctx, tok), store.ErrInvalid)
	}
	for _, h := range []string{"other", "ghost", "nobody", "Alice", "x"} {
		_, _, err := s.APIToken(ctx, hash(h))
		is(t, "APIToken of a refused token "+h, err, store.ErrNotFound)
	}

	for _, c := range []struct {
		tok  store.APIToken
		user store.User
	}{{tb, alice}, {ta, bob}, {tc, alice}} {
		tok, u, err := s.APIToken(ctx, c.tok.Hash)
		ok(t, err)
		sameAPIToken(t, "APIToken "+c.tok.ID, tok, c.tok)
		sameUser(t, "user of "+c.tok.ID, u, c.user)
		if !tok.RevokedAt.IsZero() {
			t.Errorf("%s is revoked at %v, never having been revoked", c.tok.ID, tok.RevokedAt)
		}
	}
	_, _, err := s.APIToken(ctx, hash("unknown"))
	is(t, "APIToken of an unknown hash", err, store.ErrNotFound)
	_, _, err = s.APIToken(ctx, [32]byte{})
	is(t, "APIToken of a zero hash", err, store.ErrNotFound)

	list := func(user string, want ...store.APIToken) {
		t.Helper()
		listIs(t, "APITokens", s.APITokens, user, sameAPIToken, want...)
	}
	list("alice", tb, tc)
	list("bob", ta)
	list("", ta, tb, tc)
	list("nobody")
	list("nul\x00")

	// Revoking keeps the first time, whether a later revocation says
	// earlier or later.
	t1 := t0.Add(time.Hour)
	ok(t, s.RevokeAPIToken(ctx, "tok-b", t1))
	tb.RevokedAt = t1
	tok, _, err := s.APIToken(ctx, tb.Hash)
	ok(t, err)
	sameAPIToken(t, "tok-b revoked", tok, tb)
	ok(t, s.RevokeAPIToken(ctx, "tok-b", t1.Add(time.Hour)))
	ok(t, s.RevokeAPIToken(ctx, "tok-b", t1.Add(-time.Hour)))
	tok, _, err = s.APIToken(ctx, tb.Hash)
	ok(t, err)
	sameAPIToken(t, "tok-b revoked thrice", tok, tb)
	list("alice", tb, tc) // and tok-c is not revoked
	is(t, "RevokeAPIToken of an unknown ID", s.RevokeAPIToken(ctx, "tok-z", t1), store.ErrNotFound)
	is(t, "RevokeAPIToken of an ID with a NUL", s.RevokeAPIToken(ctx, "tok-c\x00", t1), store.ErrNotFound)
	is(t, "RevokeAPIToken at the zero time", s.RevokeAPIToken(ctx, "tok-c", time.Time{}), store.ErrInvalid)
	is(t, "RevokeAPIToken in year 10000", s.RevokeAPIToken(ctx, "tok-c",
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), store.ErrInvalid)
	list("", ta, tb, tc)

	// A token stored revoked keeps its time.
	td := store.APIToken{ID: "tok-d", Hash: hash("d"), User: "bob", CreatedAt: t0, RevokedAt: t0.Add(time.Second)}
	ok(t, s.CreateAPIToken(ctx, td))
	ok(t, s.RevokeAPIToken(ctx, "tok-d", t1))
	list("bob", ta, td)
}

func testAudit(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	if es, err := s.AuditLog(ctx, time.Time{}, forever, 0); err != nil || es == nil || len(es) != 0 {
		t.Errorf("AuditLog before any = %#v, %v; want an empty list", es, err)
	}
	zone := time.FixedZone("UTC+09:00", 9*3600)
	// Appended out of time order, with two at the same time.
	in := []store.AuditEntry{
		{Time: t0.Add(time.Minute), Actor: "alice", Action: "device.mark_lost", Target: "dev-1", Detail: "left on a train"},
		{Time: t0, Actor: "bob", Action: "report.view", Target: "compliance"},
		{Time: t0.Add(2 * time.Minute).In(zone), Actor: "alice", Action: "token.create", Target: "tok-1"},
		{Time: t0.Add(2 * time.Minute), Actor: "carol", Action: "user.create", Target: "dave"},
		{Time: t0.Add(3 * time.Minute), Actor: "alice", Action: "device.wipe", Target: "dev-1"},
		{Time: t0.Add(-24 * time.Hour), Actor: "bob", Action: "report.view", Target: "holdings"},
	}
	var stored []store.AuditEntry
	for i, e := range in {
		e.ID = 1000 // assigned by the store, not taken from here
		got, err := s.Audit(ctx, e)
		ok(t, err)
		if i > 0 && got.ID <= stored[i-1].ID {
			t.Errorf("entry %d has ID %d, after %d", i, got.ID, stored[i-1].ID)
		}
		e.ID = got.ID
		sameAudit(t, fmt.Sprintf("Audit(entry %d)", i), got, e)
		stored = append(stored, e)
	}
	// Newest first; of the two at the same time, the later appended first.
	newest := []int64{stored[4].ID, stored[3].ID, stored[2].ID, stored[0].ID, stored[1].ID, stored[5].ID}
	byID := map[int64]store.AuditEntry{}
	for _, e := range stored {
		byID[e.ID] = e
	}
	for _, limit := range []int{0, -1, 6, 100} {
		got, err := s.AuditLog(ctx, time.Time{}, forever, limit)
		ok(t, err)
		sameIDs(t, fmt.Sprintf("AuditLog, limit %d", limit), auditIDs(got), newest)
		for _, g := range got {
			sameAudit(t, fmt.Sprintf("AuditLog, limit %d, entry %d", limit, g.ID), g, byID[g.ID])
		}
	}
	got, err := s.AuditLog(ctx, time.Time{}, forever, 2)
	ok(t, err)
	sameIDs(t, "AuditLog, limit 2", auditIDs(got), newest[:2])
	got, err = s.AuditLog(ctx, time.Time{}, forever, 1)
	ok(t, err)
	sameIDs(t, "AuditLog, limit 1", auditIDs(got), newest[:1])
	// [from, to): from is included, to is not.
	got, err = s.AuditLog(ctx, t0, t0.Add(2*time.Minute), 0)
	ok(t, err)
	sameIDs(t, "AuditLog [t0, t0+2m)", auditIDs(got), []int64{stored[0].ID, stored[1].ID})
	got, err = s.AuditLog(ctx, us(t0).Add(time.Microsecond), t0.Add(2*time.Minute).Add(time.Microsecond), 0)
	ok(t, err)
	sameIDs(t, "AuditLog (t0, t0+2m]", auditIDs(got), []int64{stored[3].ID, stored[2].ID, stored[0].ID})
	got, err = s.AuditLog(ctx, t0, forever, 3)
	ok(t, err)
	sameIDs(t, "AuditLog [t0, ...), limit 3", auditIDs(got), newest[:3])
	got, err = s.AuditLog(ctx, time.Unix(-1<<62, 0), time.Unix(1<<62, 0), 0)
	ok(t, err)
	sameIDs(t, "AuditLog with far bounds", auditIDs(got), newest)
	if got, _ := s.AuditLog(ctx, t0.Add(time.Hour), t0, 0); len(got) != 0 {
		t.Errorf("AuditLog with to before from = %+v", got)
	}

	// Hostile strings come back byte for byte, in every field.
	last := stored[len(stored)-1].ID
	at := t0.Add(time.Hour)
	for i, str := range hostile {
		e := store.AuditEntry{Time: at.Add(time.Duration(i) * time.Second), Actor: str, Action: str, Target: str, Detail: str}
		got, err := s.Audit(ctx, e)
		ok(t, err)
		if got.ID <= last {
			t.Errorf("hostile entry %d has ID %d, after %d", i, got.ID, last)
		}
		last, e.ID = got.ID, got.ID
		back, err := s.AuditLog(ctx, e.Time, e.Time.Add(time.Microsecond), 0)
		ok(t, err)
		if len(back) != 1 {
			t.Fatalf("AuditLog of hostile entry %d = %+v", i, back)
		}
		sameAudit(t, fmt.Sprintf("hostile entry %q", str), back[0], e)
	}

	// Invalid entries are refused, and nothing is stored.
	for name, e := range map[string]store.AuditEntry{
		"a NUL in the actor":     {Time: at, Actor: "a\x00", Action: "x"},
		"a NUL in the action":    {Time: at, Actor: "a", Action: "\x00"},
		"a NUL in the target":    {Time: at, Actor: "a", Action: "x", Target: "dev\x00-1"},
		"a NUL in the detail":    {Time: at, Actor: "a", Action: "x", Detail: "\x00"},
		"invalid UTF-8":          {Time: at, Actor: "a", Action: "x", Detail: "\xed\xa0\x80"}, // a surrogate
		"a time in year 0":       {Time: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), Actor: "a", Action: "x"},
		"a time in year 10000":   {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Actor: "a", Action: "x"},
		"a truncated multi-byte": {Time: at, Actor: "日本"[:4], Action: "x"},
	} {
		got, err := s.Audit(ctx, e)
		is(t, "Audit with "+name, err, store.ErrInvalid)
		if got.ID != 0 {
			t.Errorf("Audit with %s returned ID %d", name, got.ID)
		}
	}
	all, err := s.AuditLog(ctx, time.Time{}, forever, 0)
	ok(t, err)
	if len(all) != len(in)+len(hostile) {
		t.Errorf("%d entries, want %d", len(all), len(in)+len(hostile))
	}
}

// testAuditConcurrent appends from many goroutines at once: every entry is
// stored, once, with an ID of its own, and each goroutine's IDs increase.
func testAuditConcurrent(t *testing.T, open Open) {
	s := open(t)
	const workers, each = 20, 10
	ids := make([][]int64, workers)
	var (
		start sync.WaitGroup
		wg    sync.WaitGroup
	)
	start.Add(workers)
	for w := range workers {
		wg.Go(func() {
			start.Done()
			start.Wait()
			for i := range each {
				e, err := s.Audit(t.Context(), store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second),
					Actor: fmt.Sprintf("worker-%02d", w), Action: "report.view", Detail: fmt.Sprint(i)})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				ids[w] = append(ids[w], e.ID)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	byID := map[int64]string{}
	for w := range workers {
		for i, id := range ids[w] {
			if i > 0 && id <= ids[w][i-1] {
				t.Errorf("worker %d: ID %d after %d", w, id, ids[w][i-1])
			}
			if other, dup := byID[id]; dup {
				t.Errorf("ID %d given to %s and worker %d entry %d", id, other, w, i)
			}
			byID[id] = fmt.Sprintf("worker %d entry %d", w, i)
		}
	}
	all, err := s.AuditLog(t.Context(), time.Time{}, forever, 0)
	ok(t, err)
	if len(all) != workers*each {
		t.Fatalf("%d entries stored, want %d", len(all), workers*each)
	}
	seen := map[string]int{}
	for _, e := range all {
		want, found := byID[e.ID]
		var w, i int
		fmt.Sscanf(e.Actor, "worker-%d", &w)
		fmt.Sscanf(e.Detail, "%d", &i)
		if !found || want != fmt.Sprintf("worker %d entry %d", w, i) {
			t.Errorf("entry %+v was not appended with ID %d", e, e.ID)
		}
		sameTime(t, "time", e.Time, t0.Add(time.Duration(i)*time.Second))
		seen[e.Actor+"/"+e.Detail]++
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct entries, want %d", len(seen), workers*each)
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool {
		return all[i].Time.After(all[j].Time) || all[i].Time.Equal(all[j].Time) && all[i].ID > all[j].ID
	}) {
		t.Error("AuditLog is not newest first, then highest ID first")
	}
}

func sameLost(t *testing.T, what string, got, want store.LostReport) {
	t.Helper()
	if got.DeviceID != want.DeviceID || got.By != want.By || got.Note != want.Note {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" lost at", got.LostAt, want.LostAt)
	sameTime(t, what+" discovered at", got.DiscoveredAt, want.DiscoveredAt)
	sameTime(t, what+" recorded at", got.RecordedAt, want.RecordedAt)
}

func sameCommand(t *testing.T, what string, got, want store.Command) {
	t.Helper()
	if got.Seq != want.Seq || got.ID != want.ID || got.DeviceID != want.DeviceID || got.Type != want.Type ||
		got.RequestedBy != want.RequestedBy || got.Result != want.Result || got.Reason != want.Reason ||
		got.CancelledBy != want.CancelledBy {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" requested at", got.RequestedAt, want.RequestedAt)
	sameTime(t, what+" expires", got.Expires, want.Expires)
	for _, x := range []struct {
		name      string
		got, want time.Time
	}{
		{"delivered at", got.DeliveredAt, want.DeliveredAt},
		{"acked at", got.AckedAt, want.AckedAt},
		{"ack received at", got.AckReceivedAt, want.AckReceivedAt},
		{"cancelled at", got.CancelledAt, want.CancelledAt},
	} {
		if !x.want.IsZero() || !x.got.IsZero() {
			sameTime(t, what+" "+x.name, x.got, x.want)
		}
	}
}

func sameDecision(t *testing.T, what string, got, want store.Decision) {
	t.Helper()
	if got.DeviceID != want.DeviceID || got.By != want.By || got.Notify != want.Notify || got.Reasons != want.Reasons {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" at", got.At, want.At)
}

func testLostReports(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
	is(t, "MarkLost of an unknown device", s.MarkLost(ctx, store.LostReport{DeviceID: "ghost", LostAt: t0,
		DiscoveredAt: t0, RecordedAt: t0}), store.ErrNotFound)
	is(t, "MarkLost of a device in the wrong case", s.MarkLost(ctx, store.LostReport{DeviceID: "D", LostAt: t0,
		DiscoveredAt: t0, RecordedAt: t0}), store.ErrNotFound)
	is(t, "MarkLost of no device", s.MarkLost(ctx, store.LostReport{LostAt: t0, DiscoveredAt: t0, RecordedAt: t0}),
		store.ErrNotFound)
	// Recorded out of time order; r3 at the same time as r1, after it.
	r1 := store.LostReport{DeviceID: "d", LostAt: t0.Add(-48 * time.Hour), DiscoveredAt: t0.Add(-time.Hour).In(zone),
		RecordedAt: t0.Add(2 * time.Hour), By: "alice", Note: "left on the 18:04 from Leeds"}
	r2 := store.LostReport{DeviceID: "d", LostAt: time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC),
		DiscoveredAt: t0, RecordedAt: t0.Add(time.Hour), By: hostile[7], Note: hostile[0]}
	r3 := store.LostReport{DeviceID: "d", LostAt: t0, DiscoveredAt: t0, RecordedAt: t0.Add(2 * time.Hour), By: "bob"}
	ro := store.LostReport{DeviceID: "other", LostAt: t0, DiscoveredAt: t0, RecordedAt: t0, By: "alice"}
	for _, r := range []store.LostReport{r1, r2, ro, r3} {
		ok(t, s.MarkLost(ctx, r))
	}
	for name, r := range map[string]store.LostReport{
		"a NUL in the note":     {DeviceID: "d", LostAt: t0, DiscoveredAt: t0, RecordedAt: t0, Note: "\x00"},
		"a reporter not UTF-8":  {DeviceID: "d", LostAt: t0, DiscoveredAt: t0, RecordedAt: t0, By: "\x80"},
		"a NUL in the device":   {DeviceID: "d\x00", LostAt: t0, DiscoveredAt: t0, RecordedAt: t0},
		"a loss in year 10000":  {DeviceID: "d", LostAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), DiscoveredAt: t0, RecordedAt: t0},
		"a discovery in year 0": {DeviceID: "d", LostAt: t0, DiscoveredAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), RecordedAt: t0},
	} {
		is(t, "MarkLost with "+name, s.MarkLost(ctx, r), store.ErrInvalid)
	}
	listIs(t, "LostReports", s.LostReports, "d", sameLost, r2, r1, r3)
	listIs(t, "LostReports", s.LostReports, "other", sameLost, ro)
	// "" lists every device's, oldest recorded first.
	listIs(t, "LostReports", s.LostReports, "", sameLost, ro, r2, r1, r3)
	for _, id := range []string{"ghost", "d\x00"} {
		listIs(t, "LostReports", s.LostReports, id, sameLost)
	}
}

// command is a command of typ requested at at by by: a lock or unlock
// expiring 30 days after, a wipe never.
func command(dev, typ string, at time.Time, by string) store.Command {
	c := store.Command{DeviceID: dev, Type: typ, RequestedAt: at, RequestedBy: by}
	if typ != wire.CommandWipe {
		c.Expires = at.Add(30 * 24 * time.Hour)
	}
	return c
}

func requestCommand(t *testing.T, s store.Store, c store.Command) store.Command {
	t.Helper()
	got, err := s.RequestCommand(t.Context(), c)
	ok(t, err)
	return got
}

func testCommands(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	_, err := s.RequestCommand(ctx, command("ghost", wire.CommandWipe, t0, "alice"))
	is(t, "RequestCommand for an unknown device", err, store.ErrNotFound)
	zone := time.FixedZone("UTC-08:00", -8*3600)
	in := []store.Command{
		command("d", wire.CommandWipe, t0.Add(time.Hour).In(zone), "alice"),
		command("other", wire.CommandLock, t0, "alice"),
		command("d", wire.CommandLock, t0, hostile[7]), // earlier by the clock, stored later: listed later
		command("d", wire.CommandUnlock, t0.Add(time.Hour), "bob"),
	}
	var stored []store.Command
	ids := map[string]bool{}
	for i, c := range in {
		c.Seq, c.ID = 1000, "mine" // assigned by the store
		got, err := s.RequestCommand(ctx, c)
		ok(t, err)
		if got.Seq == 0 || i > 0 && got.Seq <= stored[i-1].Seq {
			t.Errorf("command %d has Seq %d", i, got.Seq)
		}
		if !strings.HasPrefix(got.ID, "cmd_") || len(got.ID) != 30 || ids[got.ID] {
			t.Errorf("command %d has ID %q", i, got.ID)
		}
		ids[got.ID] = true
		c.Seq, c.ID = got.Seq, got.ID
		sameCommand(t, fmt.Sprintf("RequestCommand(command %d)", i), got, c)
		if got.RequestedAt.Location() != time.UTC || got.Expires.Location() != time.UTC {
			t.Errorf("RequestCommand returned times in %v", got.RequestedAt.Location())
		}
		if st := got.Status(t0); st != store.StatusRequested {
			t.Errorf("a new command is %s", st)
		}
		stored = append(stored, c)
	}
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, c := range map[string]store.Command{
		"a NUL in the requester":        command("d", wire.CommandWipe, t0, "al\x00ice"),
		"a time in year 10000":          {DeviceID: "d", Type: wire.CommandLock, RequestedAt: year10000, Expires: year10000.Add(time.Hour)},
		"a wipe in year 10000":          {DeviceID: "d", Type: wire.CommandWipe, RequestedAt: year10000},
		"an expiry in year 10000":       {DeviceID: "d", Type: wire.CommandLock, RequestedAt: t0, Expires: year10000},
		"an expiry at the request":      {DeviceID: "d", Type: wire.CommandLock, RequestedAt: t0, Expires: t0},
		"a lock without an expiry":      {DeviceID: "d", Type: wire.CommandLock, RequestedAt: t0, RequestedBy: "alice"},
		"a wipe with an expiry":         {DeviceID: "d", Type: wire.CommandWipe, RequestedAt: t0, RequestedBy: "alice", Expires: t0.Add(time.Hour)},
		"an unknown type":               command("d", "reboot", t0, "alice"),
		"no type":                       command("d", "", t0, "alice"),
		"one delivered already":         {DeviceID: "d", Type: wire.CommandLock, RequestedAt: t0, Expires: t0.Add(time.Hour), DeliveredAt: t0},
		"one acknowledged already":      {DeviceID: "d", Type: wire.CommandLock, RequestedAt: t0, Expires: t0.Add(time.Hour), Result: wire.AckDone},
		"one cancelled already":         {DeviceID: "d", Type: wire.CommandLock, RequestedAt: t0, Expires: t0.Add(time.Hour), CancelledAt: t0},
		"a device ID with a NUL":        command("d\x00", wire.CommandWipe, t0, "alice"),
		"a device ID that is not UTF-8": command("d\xff", wire.CommandWipe, t0, "alice"),
	} {
		got, err := s.RequestCommand(ctx, c)
		is(t, "RequestCommand with "+name, err, store.ErrInvalid)
		if got.Seq != 0 || got.ID != "" {
			t.Errorf("RequestCommand with %s returned %d %q", name, got.Seq, got.ID)
		}
	}
	listIs(t, "Commands", s.Commands, "d", sameCommand, stored[0], stored[2], stored[3])
	listIs(t, "Commands", s.Commands, "other", sameCommand, stored[1])
	for _, id := range []string{"ghost", "", "\xff"} {
		listIs(t, "Commands", s.Commands, id, sameCommand)
	}
}

func testDecisions(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	is(t, "RecordDecision on an unknown device", s.RecordDecision(ctx, store.Decision{DeviceID: "ghost", At: t0,
		By: "dpo", Notify: true}), store.ErrNotFound)
	zone := time.FixedZone("UTC+01:00", 3600)
	d1 := store.Decision{DeviceID: "d", At: t0.Add(time.Hour).In(zone), By: "dpo", Notify: false,
		Reasons: "Encrypted at rest (BitLocker, verified), no plaintext case files.\nLow risk."}
	d2 := store.Decision{DeviceID: "d", At: t0, By: hostile[7], Notify: true, Reasons: hostile[6]}
	d3 := store.Decision{DeviceID: "d", At: t0.Add(time.Hour), By: "dpo", Notify: true, Reasons: ""}
	do := store.Decision{DeviceID: "other", At: t0, By: "dpo", Notify: true, Reasons: hostile[4]}
	for _, d := range []store.Decision{d1, d2, do, d3} {
		ok(t, s.RecordDecision(ctx, d))
	}
	for name, d := range map[string]store.Decision{
		"a NUL in the reasons":    {DeviceID: "d", At: t0, Reasons: "risk\x00"},
		"reasons not UTF-8":       {DeviceID: "d", At: t0, Reasons: "\xc0\xaf"},
		"a decider with a NUL":    {DeviceID: "d", At: t0, By: "\x00"},
		"a decision in year 0":    {DeviceID: "d", At: time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC)},
		"a decision in year 1e4":  {DeviceID: "d", At: time.Date(10000, 6, 1, 0, 0, 0, 0, time.UTC)},
		"a device ID with a NUL":  {DeviceID: "\x00", At: t0},
		"a device ID not UTF-8":   {DeviceID: "d\xff", At: t0},
		"a NUL and no device too": {DeviceID: "ghost", At: t0, Reasons: "\x00"},
	} {
		is(t, "RecordDecision with "+name, s.RecordDecision(ctx, d), store.ErrInvalid)
	}
	listIs(t, "Decisions", s.Decisions, "d", sameDecision, d2, d1, d3)
	listIs(t, "Decisions", s.Decisions, "other", sameDecision, do)
	for _, id := range []string{"ghost", "", "\x00"} {
		listIs(t, "Decisions", s.Decisions, id, sameDecision)
	}
}

// testAccessReopen checks that everything Access stores is still there
// after the store is closed and opened again, and that the IDs the store
// assigns keep increasing across the reopening.
func testAccessReopen(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	u := store.User{Name: "alice", Role: store.RoleDPO, CreatedAt: t0}
	tok := store.APIToken{ID: "tok-1", Hash: sha256.Sum256([]byte("secret")), User: "alice", CreatedAt: t0, Note: "n"}
	lost := store.LostReport{DeviceID: "d", LostAt: t0, DiscoveredAt: t0.Add(time.Hour), RecordedAt: t0.Add(2 * time.Hour), By: "alice"}
	dec := store.Decision{DeviceID: "d", At: t0.Add(3 * time.Hour), By: "alice", Notify: true, Reasons: "r"}
	ok(t, s.CreateUser(ctx, u))
	ok(t, s.CreateAPIToken(ctx, tok))
	ok(t, s.RevokeAPIToken(ctx, "tok-1", t0.Add(time.Hour)))
	tok.RevokedAt = t0.Add(time.Hour)
	e, err := s.Audit(ctx, store.AuditEntry{Time: t0, Actor: "alice", Action: "device.mark_lost", Target: "d"})
	ok(t, err)
	ok(t, s.MarkLost(ctx, lost))
	w := requestCommand(t, s, command("d", wire.CommandWipe, t0, "alice"))
	ok(t, s.RecordDecision(ctx, dec))
	ok(t, s.Close())

	s = open(t)
	got, err := s.User(ctx, "alice")
	ok(t, err)
	sameUser(t, "user after reopening", got, u)
	gt, gu, err := s.APIToken(ctx, tok.Hash)
	ok(t, err)
	sameAPIToken(t, "token after reopening", gt, tok)
	sameUser(t, "token's user after reopening", gu, u)
	log, err := s.AuditLog(ctx, time.Time{}, forever, 0)
	ok(t, err)
	if len(log) != 1 {
		t.Fatalf("audit log after reopening = %+v", log)
	}
	sameAudit(t, "audit entry after reopening", log[0], e)
	listIs(t, "after reopening, LostReports", s.LostReports, "d", sameLost, lost)
	listIs(t, "after reopening, Commands", s.Commands, "d", sameCommand, w)
	listIs(t, "after reopening, Decisions", s.Decisions, "d", sameDecision, dec)

	is(t, "CreateUser of a stored name after reopening", s.CreateUser(ctx, u), store.ErrExists)
	is(t, "CreateAPIToken of a stored ID after reopening", s.CreateAPIToken(ctx, tok), store.ErrExists)
	e2, err := s.Audit(ctx, store.AuditEntry{Time: t0, Actor: "alice", Action: "report.view"})
	ok(t, err)
	if e2.ID <= e.ID {
		t.Errorf("audit ID %d after reopening, after %d", e2.ID, e.ID)
	}
	w2 := requestCommand(t, s, command("d", wire.CommandWipe, t0, "alice"))
	if w2.Seq <= w.Seq || w2.ID == w.ID {
		t.Errorf("command %d %q after reopening, after %d %q", w2.Seq, w2.ID, w.Seq, w.ID)
	}
}

// testAccessTwoHandles is two server processes on one database: what one
// stores, the other reads, and IDs they assign at once are all distinct.
func testAccessTwoHandles(t *testing.T, open Open) {
	a, b := open(t), open(t)
	ctx := t.Context()
	createDevices(t, a, "d")
	ok(t, a.CreateUser(ctx, store.User{Name: "alice", Role: store.RoleITSecurity, CreatedAt: t0}))
	is(t, "CreateUser of the other handle's user", b.CreateUser(ctx, store.User{Name: "alice", Role: store.RoleDPO,
		CreatedAt: t0}), store.ErrExists)
	const each = 25
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[int64]bool{}
		wps = map[int64]bool{}
		cds = map[string]bool{}
	)
	for k, s := range []store.Store{a, b} {
		wg.Go(func() {
			for i := range each {
				e, err := s.Audit(ctx, store.AuditEntry{Time: t0, Actor: "alice", Action: "x", Detail: fmt.Sprint(k, i)})
				if err != nil {
					t.Errorf("handle %d: %v", k, err)
					return
				}
				w, err := s.RequestCommand(ctx, command("d", wire.CommandWipe, t0, "alice"))
				if err != nil {
					t.Errorf("handle %d: %v", k, err)
					return
				}
				mu.Lock()
				if ids[e.ID] || wps[w.Seq] || cds[w.ID] {
					t.Errorf("handle %d: audit ID %d or command %d %q given twice", k, e.ID, w.Seq, w.ID)
				}
				ids[e.ID], wps[w.Seq], cds[w.ID] = true, true, true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, s := range []store.Store{a, b} {
		log, err := s.AuditLog(ctx, time.Time{}, forever, 0)
		ok(t, err)
		if len(log) != 2*each {
			t.Errorf("handle %d reads %d audit entries, want %d", k, len(log), 2*each)
		}
		ws, err := s.Commands(ctx, "d")
		ok(t, err)
		if len(ws) != 2*each {
			t.Errorf("handle %d reads %d commands, want %d", k, len(ws), 2*each)
		}
		for i := 1; i < len(ws); i++ {
			if ws[i].Seq <= ws[i-1].Seq { // all requested at t0: by Seq
				t.Errorf("commands out of order: %d after %d", ws[i].Seq, ws[i-1].Seq)
			}
		}
	}
}
