package policy

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// A signed bundle is one file: a short text header, a blank line, then the
// canonical policy, exactly as signed:
//
//	casekeep-policy-bundle v1
//	key: 3f1c0a9e5b7d2c41
//	signature: <base64 of the 64-byte Ed25519 signature>
//	size: 1234
//
//	{"version":4,"name":...}
//
// The signature covers the string "casekeep policy v1\n" followed by the
// canonical policy, so it cannot be replayed as a signature of anything
// else the same key might sign. There is one valid encoding of a bundle:
// parsing refuses any other spelling of the header.

const (
	bundleMagic  = "casekeep-policy-bundle v1"
	signedPrefix = "casekeep policy v1\n"
)

// Errors from [Verify], to be told apart with errors.Is. [ErrMalformed] and
// [ErrInvalid] can also be returned.
var (
	// ErrWrongKey means the bundle was signed by another key than the one
	// it is checked against.
	ErrWrongKey = errors.New("policy bundle signed by another key")
	// ErrBadSignature means the signature does not match the policy: the
	// bundle was changed after signing.
	ErrBadSignature = errors.New("policy bundle signature does not verify")
	// ErrRollback means the bundle's version is not newer than the one in
	// force; an older or repeated policy is never taken.
	ErrRollback = errors.New("policy rollback refused")
)

// Bundle is the parsed, unverified form of a signed bundle.
type Bundle struct {
	// KeyID is the [KeyID] of the key that the bundle says signed it.
	KeyID string
	// Signature is the Ed25519 signature.
	Signature []byte
	// Payload is the canonical policy.
	Payload []byte
}

// Sign validates p and returns a signed bundle of its canonical encoding.
func Sign(p *Policy, priv ed25519.PrivateKey) ([]byte, error) {
	q, err := normalize(p)
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	payload := Canonical(q)
	b := &Bundle{
		KeyID:     KeyID(pub),
		Signature: ed25519.Sign(priv, signedMessage(payload)),
		Payload:   payload,
	}
	return b.Marshal(), nil
}

func signedMessage(payload []byte) []byte {
	return append([]byte(signedPrefix), payload...)
}

// Marshal encodes the bundle in its one valid form.
func (b *Bundle) Marshal() []byte {
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s\nkey: %s\nsignature: %s\nsize: %d\n\n", bundleMagic, b.KeyID,
		base64.StdEncoding.EncodeToString(b.Signature), len(b.Payload))
	out.Write(b.Payload)
	return out.Bytes()
}

// ParseBundle splits a bundle into its parts without checking the signature
// or the policy. Empty, truncated or otherwise malformed input is refused
// with [ErrMalformed].
func ParseBundle(data []byte) (*Bundle, error) {
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("%w: the bundle is empty", ErrMalformed)
	case len(data) > MaxSourceSize+1024:
		return nil, fmt.Errorf("%w: the bundle is larger than %d bytes", ErrMalformed, MaxSourceSize+1024)
	case !bytes.HasPrefix(data, []byte(bundleMagic+"\n")):
		if bytes.HasPrefix([]byte(bundleMagic), data) {
			return nil, fmt.Errorf("%w: truncated in the header", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: it does not start with %q (is this a policy YAML file rather than a signed bundle?)", ErrMalformed, bundleMagic)
	}
	header, payload, found := bytes.Cut(data, []byte("\n\n"))
	if !found {
		return nil, fmt.Errorf("%w: truncated in the header", ErrMalformed)
	}
	lines := bytes.Split(header, []byte("\n"))
	if len(lines) != 4 {
		return nil, fmt.Errorf("%w: the header has %d lines, not 4", ErrMalformed, len(lines))
	}
	field := func(line []byte, name string) (string, error) {
		v, ok := bytes.CutPrefix(line, []byte(name+": "))
		if !ok {
			return "", fmt.Errorf("%w: the header has no %q line where one belongs", ErrMalformed, name)
		}
		return string(v), nil
	}
	b := &Bundle{}
	var err error
	if b.KeyID, err = field(lines[1], "key"); err != nil {
		return nil, err
	}
	sig, err := field(lines[2], "signature")
	if err != nil {
		return nil, err
	}
	if b.Signature, err = base64.StdEncoding.Strict().DecodeString(sig); err != nil || len(b.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: the signature is not %d bytes of base64", ErrMalformed, ed25519.SignatureSize)
	}
	sizeText, err := field(lines[3], "size")
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(sizeText)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("%w: the size %q is not a number of bytes", ErrMalformed, sizeText)
	}
	switch {
	case len(payload) < size:
		return nil, fmt.Errorf("%w: truncated: the header says %d bytes of policy, but %d follow", ErrMalformed, size, len(payload))
	case len(payload) > size:
		return nil, fmt.Errorf("%w: %d bytes follow the policy, which the header says is %d bytes", ErrMalformed, len(payload)-size, size)
	}
	b.Payload = payload
	if !bytes.Equal(b.Marshal(), data) {
		return nil, fmt.Errorf("%w: the header is not in its one valid form", ErrMalformed)
	}
	return b, nil
}

// Verify checks a signed bundle against the policy public key and returns
// its policy. It refuses a bundle signed by another key ([ErrWrongKey]), one
// changed after signing ([ErrBadSignature]), one that is empty or truncated
// ([ErrMalformed]), and one whose version is not greater than inForce
// ([ErrRollback]). Pass inForce 0 to check a bundle without a policy in force,
// such as the one an agent already runs when it restarts.
func Verify(data []byte, pub ed25519.PublicKey, inForce int) (*Policy, error) {
	b, err := ParseBundle(data)
	if err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("policy: public key is %d bytes, not %d", len(pub), ed25519.PublicKeySize)
	}
	if want := KeyID(pub); b.KeyID != want {
		return nil, fmt.Errorf("%w: the bundle names key %s, but it is checked against key %s", ErrWrongKey, b.KeyID, want)
	}
	if !ed25519.Verify(pub, signedMessage(b.Payload), b.Signature) {
		return nil, ErrBadSignature
	}
	p, err := Decode(b.Payload)
	if err != nil {
		return nil, err
	}
	if p.Version <= inForce {
		return nil, fmt.Errorf("%w: the bundle holds version %d, but version %d is in force; a policy must have a higher version than the one it replaces", ErrRollback, p.Version, inForce)
	}
	return p, nil
}
