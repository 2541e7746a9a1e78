package access_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

func TestNewToken(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.FixedZone("BST", 3600))
	a, ra, err := access.NewToken("ann", "laptop", now)
	if err != nil {
		t.Fatal(err)
	}
	b, rb, _ := access.NewToken("ann", "", now)
	if !regexp.MustCompile(`^ckapi1\.[A-Za-z0-9_-]{43}$`).MatchString(a) || a == b {
		t.Errorf("tokens %q, %q", a, b)
	}
	if ra.Hash != access.Hash(a) || ra.ID == rb.ID || len(ra.ID) != 12 || ra.User != "ann" || ra.Note != "laptop" || ra.CreatedAt.Location() != time.UTC {
		t.Errorf("record %+v", ra)
	}
	if strings.Contains(ra.ID, a[len(access.TokenPrefix):len(access.TokenPrefix)+6]) {
		t.Error("the public ID shows part of the secret")
	}
}

func TestAllows(t *testing.T) {
	want := map[store.Role][4]bool{ // Read, Decide, Act, Admin
		store.RoleITSecurity: {true, true, true, true},
		store.RoleDPO:        {true, true, false, false},
		store.RoleAuditor:    {true, false, false, false},
		"":                   {false, false, false, false},
		"IT-SECURITY":        {false, false, false, false},
	}
	for role, w := range want {
		for p, allowed := range w {
			if got := access.Allows(role, access.Permission(p)); got != allowed {
				t.Errorf("Allows(%q, %d) = %v", role, p, got)
			}
		}
	}
}

func TestAuthenticate(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	st.CreateUser(ctx, store.User{Name: "ann", Role: store.RoleDPO, CreatedAt: now})
	tok, rec, _ := access.NewToken("ann", "", now)
	if err := st.CreateAPIToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	g := &access.Guard{Store: st}
	auth := func(header string) (access.Principal, error) {
		r := httptest.NewRequest("GET", "/api/v1/devices", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		return g.Authenticate(r)
	}
	p, err := auth("Bearer " + tok)
	if err != nil || p.User.Name != "ann" || p.User.Role != store.RoleDPO || p.TokenID != rec.ID {
		t.Errorf("%+v, %v", p, err)
	}
	for header, want := range map[string]error{
		"":                          access.ErrNoToken,
		"Bearer ":                   access.ErrNoToken,
		"Basic YW5uOnNlY3JldA==":    access.ErrNoToken,
		"bearer " + tok:             access.ErrNoToken,
		"Bearer " + tok + "x":       access.ErrBadToken,
		"Bearer ck1.enrollment.tok": access.ErrBadToken,
		"Bearer " + strings.Repeat("ckapi1.", 100): access.ErrBadToken,
	} {
		if _, err := auth(header); !errors.Is(err, want) {
			t.Errorf("%.40q: %v, want %v", header, err, want)
		}
	}
	st.RevokeAPIToken(ctx, rec.ID, now)
	if _, err := auth("Bearer " + tok); !errors.Is(err, access.ErrRevokedToken) {
		t.Errorf("revoked: %v", err)
	}
}

// FuzzAuthenticate: any Authorization header is refused unless it is a
// stored token, and never panics.
func FuzzAuthenticate(f *testing.F) {
	st, err := sqlite.Open(filepath.Join(f.TempDir(), "s.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	g := &access.Guard{Store: st}
	for _, s := range []string{"", "Bearer ", "Bearer ckapi1.x", "Bearer ckapi1.\x00", "Bearer \xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		if p, err := g.Authenticate(r); err == nil {
			t.Fatalf("%q authenticated as %+v with no tokens stored", header, p)
		}
	})
}
