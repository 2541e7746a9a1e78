package policy_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/policy"
)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func signYAML(t testing.TB, src string, priv ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := policy.Sign(mustParse(t, src), priv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignVerify(t *testing.T) {
	pub, priv := newKey(t)
	p := mustParse(t, string(readFile(t, "example.yaml")))
	bundle, err := policy.Sign(p, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := policy.Verify(bundle, pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != p.Hash() || got.Version != p.Version {
		t.Errorf("verified policy differs: version %d hash %s, want %d %s", got.Version, got.Hash(), p.Version, p.Hash())
	}
	b, err := policy.ParseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if b.KeyID != policy.KeyID(pub) || !bytes.Equal(b.Payload, policy.Canonical(p)) {
		t.Errorf("bundle key %s payload %q", b.KeyID, b.Payload)
	}
	// Signing is deterministic (Ed25519), so the same policy gives the same bundle.
	again, _ := policy.Sign(p, priv)
	if !bytes.Equal(again, bundle) {
		t.Error("signing the same policy twice gave different bundles")
	}
}

func TestVerifyWrongKey(t *testing.T) {
	pubA, privA := newKey(t)
	pubB, _ := newKey(t)
	bundle := signYAML(t, validYAML, privA)
	_, err := policy.Verify(bundle, pubB, 0)
	if !errors.Is(err, policy.ErrWrongKey) {
		t.Fatalf("Verify with key B: %v, want ErrWrongKey", err)
	}
	if !strings.Contains(err.Error(), policy.KeyID(pubA)) || !strings.Contains(err.Error(), policy.KeyID(pubB)) {
		t.Errorf("error does not name both keys: %v", err)
	}
	if _, err := policy.Verify(bundle, pubA, 0); err != nil {
		t.Errorf("Verify with key A: %v", err)
	}
}

// TestVerifyForgedSignature signs with key B but claims key A's id: the
// signature check, not the id, must catch it.
func TestVerifyForgedSignature(t *testing.T) {
	pubA, _ := newKey(t)
	_, privB := newKey(t)
	b, err := policy.ParseBundle(signYAML(t, validYAML, privB))
	if err != nil {
		t.Fatal(err)
	}
	b.KeyID = policy.KeyID(pubA)
	if _, err := policy.Verify(b.Marshal(), pubA, 0); !errors.Is(err, policy.ErrBadSignature) {
		t.Fatalf("forged bundle: %v, want ErrBadSignature", err)
	}
	// A valid signature over a swapped-in policy fails the same way.
	b.Payload = policy.Canonical(mustParse(t, withVersion("99")))
	if _, err := policy.Verify(b.Marshal(), pubA, 0); !errors.Is(err, policy.ErrBadSignature) {
		t.Fatalf("swapped payload: %v, want ErrBadSignature", err)
	}
}

// TestVerifyEveryByteChanged flips bits in every byte of a bundle, and
// replaces, deletes and duplicates every byte; each changed bundle must fail.
func TestVerifyEveryByteChanged(t *testing.T) {
	pub, priv := newKey(t)
	bundle := signYAML(t, string(readFile(t, "minimal.yaml")), priv)
	check := func(what string, changed []byte) {
		t.Helper()
		if bytes.Equal(changed, bundle) {
			return
		}
		if _, err := policy.Verify(changed, pub, 0); err == nil {
			t.Fatalf("%s: changed bundle verified", what)
		}
	}
	for i := range bundle {
		for _, mask := range []byte{0x01, 0x02, 0x20, 0x80, 0xff} {
			c := bytes.Clone(bundle)
			c[i] ^= mask
			check(fmt.Sprintf("byte %d ^ %#x", i, mask), c)
		}
		check(fmt.Sprintf("byte %d deleted", i), append(bytes.Clone(bundle[:i]), bundle[i+1:]...))
		check(fmt.Sprintf("byte %d doubled", i), append(bytes.Clone(bundle[:i+1]), bundle[i:]...))
	}
	check("byte appended", append(bytes.Clone(bundle), '\n'))
	check("CRLF line endings", bytes.ReplaceAll(bundle, []byte("\n"), []byte("\r\n")))
}

func TestVerifyTruncated(t *testing.T) {
	pub, priv := newKey(t)
	bundle := signYAML(t, validYAML, priv)
	for n := 0; n < len(bundle); n++ {
		_, err := policy.Verify(bundle[:n], pub, 0)
		if !errors.Is(err, policy.ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v, want ErrMalformed", n, err)
		}
	}
	_, err := policy.Verify(nil, pub, 0)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty bundle: %v", err)
	}
	_, err = policy.Verify(bundle[:len(bundle)-10], pub, 0)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated payload: %v", err)
	}
}

func TestVerifyRollback(t *testing.T) {
	pub, priv := newKey(t)
	v3 := signYAML(t, withVersion("3"), priv)
	v4 := signYAML(t, withVersion("4"), priv)
	p, err := policy.Verify(v4, pub, 3)
	if err != nil || p.Version != 4 {
		t.Fatalf("v4 over v3: %v", err)
	}
	for _, inForce := range []int{4, 5} {
		_, err := policy.Verify(v3, pub, inForce)
		if !errors.Is(err, policy.ErrRollback) || !strings.Contains(err.Error(), "rollback") {
			t.Errorf("v3 with v%d in force: %v, want ErrRollback", inForce, err)
		}
	}
	if _, err := policy.Verify(v4, pub, 4); !errors.Is(err, policy.ErrRollback) {
		t.Errorf("same version again: %v, want ErrRollback", err)
	}
}

// TestVerifyValidatesPolicy signs an invalid policy by hand, as a buggy or
// hostile signer might: a good signature does not make it acceptable.
func TestVerifyValidatesPolicy(t *testing.T) {
	pub, priv := newKey(t)
	canon := policy.Canonical(mustParse(t, validYAML))
	bad := bytes.Replace(canon, []byte(`"interval":"5m"`), []byte(`"interval":"1s"`), 1)
	b := &policy.Bundle{
		KeyID:     policy.KeyID(pub),
		Signature: ed25519.Sign(priv, append([]byte("casekeep policy v1\n"), bad...)),
		Payload:   bad,
	}
	if _, err := policy.Verify(b.Marshal(), pub, 0); !errors.Is(err, policy.ErrInvalid) {
		t.Errorf("signed invalid policy: %v, want ErrInvalid", err)
	}
	// The same signature without the domain prefix does not verify.
	b.Payload = canon
	b.Signature = ed25519.Sign(priv, canon)
	if _, err := policy.Verify(b.Marshal(), pub, 0); !errors.Is(err, policy.ErrBadSignature) {
		t.Errorf("signature without the domain prefix: %v, want ErrBadSignature", err)
	}
}

func TestSignRefusesInvalid(t *testing.T) {
	_, priv := newKey(t)
	p := mustParse(t, validYAML)
	p.Heartbeat.Interval = 0
	if _, err := policy.Sign(p, priv); !errors.Is(err, policy.ErrInvalid) {
		t.Errorf("Sign with zero interval: %v, want ErrInvalid", err)
	}
	if err := policy.Validate(p); !errors.Is(err, policy.ErrInvalid) {
		t.Errorf("Validate with zero interval: %v", err)
	}
}

func TestParseBundleRefuses(t *testing.T) {
	pub, priv := newKey(t)
	bundle := signYAML(t, validYAML, priv)
	parsed, err := policy.ParseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	sig := base64.StdEncoding.EncodeToString(parsed.Signature)
	cases := map[string]string{
		"yaml instead":    validYAML,
		"no blank line":   strings.Replace(string(bundle), "\n\n", "\n", 1),
		"extra header":    strings.Replace(string(bundle), "\nsize:", "\nextra: 1\nsize:", 1),
		"short signature": strings.Replace(string(bundle), sig[:10], "", 1),
		"negative size":   "casekeep-policy-bundle v1\nkey: " + parsed.KeyID + "\nsignature: " + sig + "\nsize: -1\n\n",
		"padded size":     strings.Replace(string(bundle), "size: ", "size: 0", 1),
		"huge":            string(bundle) + strings.Repeat(" ", policy.MaxSourceSize+2048),
	}
	for name, s := range cases {
		if _, err := policy.Verify([]byte(s), pub, 0); !errors.Is(err, policy.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	pub, priv := newKey(t)
	gotPriv, err := policy.ParsePrivateKey(policy.MarshalPrivateKey(priv))
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	gotPub, err := policy.ParsePublicKey(policy.MarshalPublicKey(pub))
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	bad := map[string][]byte{
		"empty":             nil,
		"public as private": policy.MarshalPublicKey(pub),
		"garbage":           []byte("-----BEGIN PRIVATE KEY-----\nnotbase64!!\n-----END PRIVATE KEY-----\n"),
		"trailing data":     append(policy.MarshalPrivateKey(priv), "more"...),
	}
	for name, b := range bad {
		_, err := policy.ParsePrivateKey(b)
		if !errors.Is(err, policy.ErrKeyFormat) {
			t.Errorf("%s: %v, want ErrKeyFormat", name, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), priv.Seed()[:4]) {
			t.Errorf("%s: error leaks key bytes", name)
		}
	}
	if _, err := policy.ParsePublicKey(policy.MarshalPrivateKey(priv)); !errors.Is(err, policy.ErrKeyFormat) {
		t.Errorf("private as public: %v", err)
	}
}
