package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

// TokenPrefix starts every API token, so a leaked one is easy to
// recognise (and to tell from an enrollment token).
const TokenPrefix = "ckapi1."

// Errors from Authenticate.
var (
	ErrNoToken      = errors.New("no API token: send Authorization: Bearer <token>")
	ErrBadToken     = errors.New("unknown API token")
	ErrRevokedToken = errors.New("revoked API token")
)

// NewToken makes an API token for user and returns it (to show once) and
// the record to store.
func NewToken(user, note string, now time.Time) (string, store.APIToken, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", store.APIToken{}, err
	}
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	h := Hash(tok)
	return tok, store.APIToken{ID: hex.EncodeToString(h[:6]), Hash: h, User: user, CreatedAt: now.UTC(), Note: note}, nil
}

// Hash is what the store keeps of a token.
func Hash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// Permission is a kind of request.
type Permission int

// The permissions, from least to most.
const (
	// Read: lists, device pages, timelines, events, the audit log.
	Read Permission = iota
	// Decide: run lost-device assessments and record notification
	// decisions.
	Decide
	// Act: mark devices lost, request wipes.
	Act
	// Admin: users and tokens.
	Admin
)

// Allows reports whether role r may do what p names.
func Allows(r store.Role, p Permission) bool {
	switch r {
	case store.RoleITSecurity:
		return true
	case store.RoleDPO:
		return p <= Decide
	case store.RoleAuditor:
		return p == Read
	}
	return false
}

// Principal is who made a request.
type Principal struct {
	User    store.User
	TokenID string
}

// Guard authenticates requests against the store.
type Guard struct {
	Store  store.Access
	Logger *slog.Logger
}

// Authenticate finds the request's token and its user.
func (g *Guard) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return Principal{}, ErrNoToken
	}
	return g.Check(r.Context(), tok)
}

// Check finds a token's user, as Authenticate does for a request's: an
// unknown token is ErrBadToken, a revoked one ErrRevokedToken.
func (g *Guard) Check(ctx context.Context, tok string) (Principal, error) {
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) > 200 {
		return Principal{}, ErrBadToken
	}
	return g.CheckHash(ctx, Hash(tok))
}

// CheckHash is Check for a token known by its hash (the console's session
// cookie holds only the hash, and looks it up on every request so that a
// revoked token stops working at once).
func (g *Guard) CheckHash(ctx context.Context, hash [32]byte) (Principal, error) {
	t, u, err := g.Store.APIToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, ErrBadToken
	case err != nil:
		return Principal{}, err
	case !t.RevokedAt.IsZero():
		return Principal{}, ErrRevokedToken
	}
	return Principal{User: u, TokenID: t.ID}, nil
}

type principalKey struct{}

// NewContext returns ctx carrying p, for From (the console authenticates
// by cookie rather than through Require).
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the principal Require put in the request's context.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Require wraps h so that it runs only for a request whose token's role
// allows p: 401 without a valid token, 403 for a role that may not.
func (g *Guard) Require(p Permission, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := g.Authenticate(r)
		if err != nil {
			status := http.StatusUnauthorized
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrBadToken) && !errors.Is(err, ErrRevokedToken) {
				status = http.StatusServiceUnavailable
				g.logger().Error("authenticating a request", "err", err)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="casekeep"`)
			http.Error(w, err.Error(), status)
			return
		}
		if !Allows(who.User.Role, p) {
			http.Error(w, "your role ("+string(who.User.Role)+") may not do this", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r.WithContext(NewContext(r.Context(), who)))
	})
}

func (g *Guard) logger() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}
