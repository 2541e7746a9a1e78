package storetest

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

func testTokens(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	hash := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	ok(t, s.CreateToken(ctx, store.Token{Hash: hash("a"), Uses: 2, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, Note: "laptops batch 1"}))
	is(t, "CreateToken again", s.CreateToken(ctx, store.Token{Hash: hash("a"), Uses: 5, ExpiresAt: t0.Add(time.Hour)}), store.ErrExists)
	ok(t, s.UseToken(ctx, hash("a"), t0))
	ok(t, s.UseToken(ctx, hash("a"), t0.Add(59*time.Minute)))
	is(t, "third use of a two-use token", s.UseToken(ctx, hash("a"), t0), store.ErrTokenUsedUp)
	is(t, "unknown token", s.UseToken(ctx, hash("nope"), t0), store.ErrTokenUnknown)

	exp := t0.Add(time.Hour)
	ok(t, s.CreateToken(ctx, store.Token{Hash: hash("b"), Uses: 1, ExpiresAt: exp, CreatedAt: t0}))
	is(t, "use at expiry", s.UseToken(ctx, hash("b"), exp), store.ErrTokenExpired)
	is(t, "use after expiry", s.UseToken(ctx, hash("b"), exp.Add(time.Hour)), store.ErrTokenExpired)
	ok(t, s.UseToken(ctx, hash("b"), exp.Add(-time.Microsecond)))
	is(t, "expired and used up", s.UseToken(ctx, hash("b"), exp), store.ErrTokenExpired)
	is(t, "used up", s.UseToken(ctx, hash("b"), t0), store.ErrTokenUsedUp)

	ok(t, s.CreateToken(ctx, store.Token{Hash: hash("c"), Uses: 0, ExpiresAt: exp, CreatedAt: t0}))
	is(t, "token with no uses", s.UseToken(ctx, hash("c"), t0), store.ErrTokenUsedUp)
}

func testTokenConcurrentUses(t *testing.T, open Open) {
	s := open(t)
	h := sha256.Sum256([]byte("shared"))
	const uses, tries = 25, 100
	ok(t, s.CreateToken(t.Context(), store.Token{Hash: h, Uses: uses, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}))
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		spent, refused int
	)
	for range tries {
		wg.Go(func() {
			err := s.UseToken(t.Context(), h, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				spent++
			case errors.Is(err, store.ErrTokenUsedUp):
				refused++
			default:
				t.Errorf("UseToken: %v", err)
			}
		})
	}
	wg.Wait()
	if spent != uses || refused != tries-uses {
		t.Errorf("%d uses succeeded and %d were refused, want %d and %d", spent, refused, uses, tries-uses)
	}
}

func sameDevice(t *testing.T, got, want store.Device) {
	t.Helper()
	if got.ID != want.ID || got.Hostname != want.Hostname || got.OS != want.OS || got.Arch != want.Arch ||
		got.Serial != want.Serial || got.User != want.User || got.AgentVersion != want.AgentVersion {
		t.Errorf("device = %+v\nwant %+v", got, want)
	}
	sameBytes(t, "signing key", got.SigningKey, want.SigningKey)
	sameTime(t, "enrolled at", got.EnrolledAt, want.EnrolledAt)
	if !want.RevokedAt.IsZero() || !got.RevokedAt.IsZero() {
		sameTime(t, "revoked at", got.RevokedAt, want.RevokedAt)
	}
}

func testDevices(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	b, a := device("dev-b"), device("dev-a")
	a.RevokedAt = t0.Add(time.Hour) // enrolled already revoked: kept as given
	ok(t, s.CreateDevice(ctx, b))
	ok(t, s.CreateDevice(ctx, a))
	other := device("dev-b")
	other.Hostname = "impostor"
	is(t, "CreateDevice with a taken ID", s.CreateDevice(ctx, other), store.ErrExists)
	r, err := s.Device(ctx, "dev-b")
	ok(t, err)
	sameDevice(t, r.Device, b)
	if r.State.Seq != 0 || !r.State.ReceivedAt.IsZero() || r.State.Changed(store.State{}) || len(r.State.Hash) != 0 {
		t.Errorf("state of a device that never reported: %+v", r.State)
	}
	_, err = s.Device(ctx, "dev-c")
	is(t, "Device of an unknown ID", err, store.ErrNotFound)
	all, err := s.Devices(ctx)
	ok(t, err)
	if len(all) != 2 || all[0].ID != "dev-a" || all[1].ID != "dev-b" {
		t.Fatalf("Devices = %+v, want dev-a then dev-b", all)
	}
	sameDevice(t, all[0].Device, a)
	sameDevice(t, all[1].Device, b)
}

func testRevokeDevice(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	is(t, "RevokeDevice of an unknown ID", s.RevokeDevice(ctx, "nope", t0), store.ErrNotFound)
	ok(t, s.RevokeDevice(ctx, "d", t0))
	r, err := s.Device(ctx, "d")
	ok(t, err)
	sameTime(t, "revoked at", r.RevokedAt, t0)
	ok(t, s.RevokeDevice(ctx, "d", t0.Add(time.Hour)))
	r, _ = s.Device(ctx, "d")
	sameTime(t, "revoked at after a later revocation", r.RevokedAt, t0)
	ok(t, s.RevokeDevice(ctx, "d", t0.Add(-time.Hour)))
	r, _ = s.Device(ctx, "d")
	sameTime(t, "revoked at after an earlier revocation", r.RevokedAt, t0.Add(-time.Hour))
}
