package console

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/postgres"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

// BenchmarkPagesAtScale times the fleet page and the lost-device
// assessment page on a store that already holds a large fleet's history,
// such as the one the store's query benchmark builds (10,000 devices, one
// year at 5-minute heartbeats, compacted):
//
//	CASEKEEP_BENCH_CONSOLE_DB=sqlite:/path/q10k.db  or  =postgres://...
//
// Without it the benchmark skips: loading such a history takes most of an
// hour. It adds a user and a token to the store.
func BenchmarkPagesAtScale(b *testing.B) {
	dsn := os.Getenv("CASEKEEP_BENCH_CONSOLE_DB")
	if dsn == "" {
		b.Skip("set CASEKEEP_BENCH_CONSOLE_DB to a store holding a large fleet (see the store's BenchmarkQuery)")
	}
	ctx := context.Background()
	var st store.Store
	var err error
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		st, err = sqlite.Open(path)
	} else {
		st, err = postgres.Open(ctx, dsn)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	name := "bench-" + now.Format("150405.000000")
	if err := st.CreateUser(ctx, store.User{Name: name, Role: store.RoleITSecurity, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	tok, rec, _ := access.NewToken(name, "bench", now)
	if err := st.CreateAPIToken(ctx, rec); err != nil {
		b.Fatal(err)
	}
	rows, err := st.Devices(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// The history ends at its newest heartbeat; judge liveness from there.
	var newest time.Time
	for _, r := range rows {
		if r.State.ReceivedAt.After(newest) {
			newest = r.State.ReceivedAt
		}
	}
	secret := sha256.Sum256([]byte("bench"))
	p, err := policy.Parse([]byte("version: 1\nname: bench\nissued_at: 2026-01-01T00:00:00Z\nvault:\n  cache_paths: {linux: /tmp/x}\n  escrow_recipients: [age17dsrngheqe3tyegazj5q0h0lr3dlasl37d9prrjwx83r2ewtlf2s2rjl20]\n"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{Store: st, Secret: secret[:], Now: func() time.Time { return newest },
		Policy: func(context.Context) (*policy.Policy, error) { return p, nil }})
	if err != nil {
		b.Fatal(err)
	}
	h := c.Handler()
	cookie := &http.Cookie{Name: sessionCookie, Value: c.sessionValue(access.Hash(tok), newest.Add(SessionLife))}
	get := func(target string) time.Duration {
		req := httptest.NewRequest("GET", "https://bench.test"+target, nil)
		req.AddCookie(cookie)
		w := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(w, req)
		d := time.Since(t0)
		if w.Code != 200 {
			b.Fatalf("GET %s: %d %.300s", target, w.Code, w.Body.String())
		}
		return d
	}
	lostAt := newest.Add(-72 * time.Hour).Format(time.RFC3339)
	b.Logf("%d devices; history ends %s", len(rows), newest.Format(time.RFC3339))
	for _, page := range []struct{ name, target string }{
		{"fleet", "/console/"},
		{"assessment", ""},
	} {
		b.Run(page.name, func(b *testing.B) {
			var times []time.Duration
			i := 0
			for b.Loop() {
				target := page.target
				if target == "" {
					target = "/console/devices/" + rows[(i*7919)%len(rows)].ID + "/assessment?lost_at=" + lostAt
				}
				i++
				times = append(times, get(target))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
