package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server/access"
)

// The cookies. Both are HttpOnly, Secure, SameSite=Strict and scoped to
// Prefix.
const (
	// sessionCookie holds a signed-in person's session: their token's
	// hash, an expiry and an HMAC over both.
	sessionCookie = "casekeep_console"
	// loginCookie holds a random value the login form's CSRF token is
	// bound to, before there is a session.
	loginCookie = "casekeep_console_login"
)

// SessionLife is how long a session lasts from signing in.
const SessionLife = 8 * time.Hour

// errSession is any cookie that is missing, malformed, tampered with or
// expired: the person signs in again.
var errSession = errors.New("no valid session")

// session is a signed-in request.
type session struct {
	who    access.Principal
	cookie string // the session cookie's value
	csrf   string // the CSRF token for its forms
}

// mac is HMAC-SHA256 under the console's secret over the parts, each
// length-prefixed so that no two lists of parts collide.
func (c *Console) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, c.cfg.Secret)
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

// sessionValue encodes a session cookie: the token hash (32 bytes), the
// expiry (Unix seconds, 8 bytes) and the HMAC over both (32 bytes).
func (c *Console) sessionValue(hash [32]byte, exp time.Time) string {
	b := make([]byte, 0, 72)
	b = append(b, hash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.Unix()))
	b = append(b, c.mac([]byte("session"), b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseSession checks a session cookie's HMAC and expiry and returns the
// token hash it holds.
func (c *Console) parseSession(v string, now time.Time) ([32]byte, error) {
	var hash [32]byte
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != 72 {
		return hash, errSession
	}
	if !hmac.Equal(b[40:], c.mac([]byte("session"), b[:40])) {
		return hash, errSession
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[32:40])), 0)
	if !now.Before(exp) {
		return hash, errSession
	}
	copy(hash[:], b[:32])
	return hash, nil
}

// csrfToken is the CSRF token for forms under a cookie value:
// HMAC(Secret, "csrf" + value).
func (c *Console) csrfToken(cookieValue string) string {
	return base64.RawURLEncoding.EncodeToString(c.mac([]byte("csrf" + cookieValue)))
}

// checkCSRF compares a form's token with the cookie's, in constant time.
func (c *Console) checkCSRF(cookieValue, got string) bool {
	if cookieValue == "" || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.csrfToken(cookieValue)), []byte(got)) == 1
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, life time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
	if life > 0 {
		ck.MaxAge = int(life / time.Second)
		ck.Expires = c.cfg.Now().Add(life)
	} else {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// loginValue returns the request's login cookie, setting a new one if it
// has none.
func (c *Console) loginValue(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	c.setCookie(w, loginCookie, v, time.Hour)
	return v
}

// sameOrigin refuses a request a browser says came from another site, or
// whose Origin header names another host.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) && (u.Scheme == "https" || u.Scheme == "http")
}

// localPath returns next if it is a path in the console, else Prefix: a
// login link cannot send a person elsewhere.
func localPath(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return Prefix
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, Prefix) || strings.Contains(u.Path, "..") {
		return Prefix
	}
	return next
}
