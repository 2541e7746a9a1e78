package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store/postgres"
)

// freshDatabase makes a database on the test PostgreSQL and drops it when
// the test ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("CASEKEEP_TEST_POSTGRES")
	if admin == "" {
		testenv.Unavailable(t, "set CASEKEEP_TEST_POSTGRES to a PostgreSQL DSN (.ci/postgres starts one)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("casekeep_twoservers_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestTwoServersOnePostgres runs two servers, each with its own connection
// pool, on one PostgreSQL database, and sends every heartbeat of a device to
// both at the same instant: each seq is stored exactly once, by one of them,
// and no gap is invented.
func TestTwoServersOnePostgres(t *testing.T) {
	dsn := freshDatabase(t)
	storeA, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	a := newRigWith(t, servertest.Options{Store: storeA})
	storeB, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := &rig{Rig: a.Twin(storeB, func(c *server.Config) { c.Writers = 4 })}

	d := a.enroll("shared")
	const n = 300
	prev := ""
	stored := map[int]int{}
	for seq := uint64(1); seq <= n; seq++ {
		h := heartbeat(t, d, seq, prev, nil)
		prev = wire.Hash(h.Body)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, r := range []*rig{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = r.post(wire.PathHeartbeats, batch(h), nil).status
			}()
		}
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
			default:
				t.Fatalf("seq %d: statuses %v", seq, statuses)
			}
		}
		if ok != 1 {
			t.Fatalf("seq %d: %d servers stored it (statuses %v), want exactly 1", seq, ok, statuses)
		}
		for i, s := range statuses {
			if s == http.StatusOK {
				stored[i]++
			}
		}
	}
	a.checkChain(t, d.en.DeviceID, n)
	t.Logf("%d heartbeats sent to both servers at once: server A stored %d, server B %d, none twice, no gap", n, stored[0], stored[1])
}
