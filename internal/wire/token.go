package wire

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// An enrollment token is "ck1." and 32 random bytes, then, if the server's
// TLS certificate is to be pinned from the first connection, "." and the
// SHA-256 of its public key, both base64url (whose alphabet has no ".").
// The server stores only the SHA-256 of the secret.
const tokenPrefix = "ck1."

// ErrToken means a string is not an enrollment token.
var ErrToken = errors.New("not a casekeep enrollment token")

var b64 = base64.RawURLEncoding

// NewToken makes a token that pins the certificate public key hash pin (nil
// for none). It returns the token to give out and the hash to store.
func NewToken(pin []byte) (token string, hash [32]byte, err error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", hash, err
	}
	token = tokenPrefix + b64.EncodeToString(secret)
	if pin != nil {
		token += "." + b64.EncodeToString(pin)
	}
	return token, sha256.Sum256(secret), nil
}

// ParseToken splits a token into the hash of its secret and its pin (nil if
// it has none).
func ParseToken(token string) (hash [32]byte, pin []byte, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), tokenPrefix)
	if !ok {
		return hash, nil, ErrToken
	}
	secretText, pinText, hasPin := strings.Cut(rest, ".")
	secret, err := b64.DecodeString(secretText)
	if err != nil || len(secret) != 32 {
		return hash, nil, ErrToken
	}
	if hasPin {
		if pin, err = b64.DecodeString(pinText); err != nil || len(pin) != sha256.Size {
			return hash, nil, fmt.Errorf("%w: its certificate pin is damaged", ErrToken)
		}
	}
	return sha256.Sum256(secret), pin, nil
}

// CertPin returns the SHA-256 of a certificate's public key: what the agent
// pins, so that renewing the certificate with the same key keeps the pin.
func CertPin(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return sum[:]
}

// PinnedTLS returns a client TLS configuration that accepts exactly the
// server whose certificate public key hashes to pin, whoever signed it:
// the dev server's self-signed certificate as well as a council's own CA.
func PinnedTLS(pin []byte) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			if got := CertPin(cs.PeerCertificates[0]); subtle.ConstantTimeCompare(got, pin) != 1 {
				return fmt.Errorf("the server's certificate key %s is not the pinned %s", b64.EncodeToString(got), b64.EncodeToString(pin))
			}
			return nil
		},
	}
}

// NewDeviceID returns a new random device ID.
func NewDeviceID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "dev_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}
