package policy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// Policy keys are Ed25519. Files hold them as PEM: the private key as PKCS #8
// ("PRIVATE KEY"), the public key as PKIX ("PUBLIC KEY"), the forms OpenSSL
// reads and writes.

// ErrKeyFormat is returned for a key file that is not the expected PEM key.
var ErrKeyFormat = errors.New("not an Ed25519 key in PEM form")

// KeyID names a public key in 16 hex digits: the start of its SHA-256. A
// bundle carries the ID of the key that signed it, so that a bundle checked
// against the wrong key says so.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// MarshalPrivateKey encodes priv as a PEM PKCS #8 block.
func MarshalPrivateKey(priv ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic("policy: encoding Ed25519 key: " + err.Error()) // cannot fail for a valid key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ParsePrivateKey decodes a key written by [MarshalPrivateKey]. The error
// never includes the key's bytes.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	der, err := onePEM(b, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS #8 data does not parse", ErrKeyFormat)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: the key is %T, not Ed25519", ErrKeyFormat, k)
	}
	return priv, nil
}

// MarshalPublicKey encodes pub as a PEM PKIX block.
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("policy: encoding Ed25519 key: " + err.Error()) // cannot fail for a valid key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey decodes a key written by [MarshalPublicKey].
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	der, err := onePEM(b, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKIX data does not parse", ErrKeyFormat)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the key is %T, not Ed25519", ErrKeyFormat, k)
	}
	return pub, nil
}

func onePEM(b []byte, typ string) ([]byte, error) {
	block, rest := pem.Decode(b)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%w: no PEM block found", ErrKeyFormat)
	case block.Type != typ:
		return nil, fmt.Errorf("%w: found a %q PEM block where a %q one belongs", ErrKeyFormat, block.Type, typ)
	case len(block.Headers) > 0:
		return nil, fmt.Errorf("%w: PEM headers are not expected (is the key encrypted?)", ErrKeyFormat)
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, fmt.Errorf("%w: unexpected data after the PEM block", ErrKeyFormat)
	}
	return block.Bytes, nil
}
