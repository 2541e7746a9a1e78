package policy_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/casekeep/casekeep/policy"
)

// fuzzKey is fixed so that the seed corpus can hold bundles it signed.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// FuzzParse feeds YAML to Parse. Whatever it accepts must survive both round
// trips unchanged; whatever it refuses must be refused with located problems.
func FuzzParse(f *testing.F) {
	for _, name := range validFiles {
		f.Add(readFile(f, name))
	}
	f.Add([]byte(validYAML))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := policy.Parse(src)
		if err != nil {
			var ie *policy.InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			for _, pr := range ie.Problems {
				if pr.Line < 1 {
					t.Fatalf("problem without a line: %s", pr)
				}
			}
			return
		}
		canon := policy.Canonical(p)
		q, err := policy.Decode(canon)
		if err != nil {
			t.Fatalf("Decode(Canonical(p)): %v\n%s", err, canon)
		}
		if !bytes.Equal(policy.Canonical(q), canon) {
			t.Fatalf("canonical round trip changed:\n%s\n%s", canon, policy.Canonical(q))
		}
		r, err := policy.Parse(policy.MarshalYAML(p))
		if err != nil {
			t.Fatalf("Parse(MarshalYAML(p)): %v\n%s", err, policy.MarshalYAML(p))
		}
		if !bytes.Equal(policy.Canonical(r), canon) {
			t.Fatalf("YAML round trip changed:\n%s\n%s", canon, policy.Canonical(r))
		}
	})
}

// FuzzDecode feeds canonical-encoding candidates to Decode: anything it
// accepts must be exactly the canonical encoding of the result.
func FuzzDecode(f *testing.F) {
	for _, name := range validFiles {
		p, err := policy.Parse(readFile(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(policy.Canonical(p))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := policy.Decode(b)
		if err != nil {
			if !errors.Is(err, policy.ErrMalformed) && !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("error is neither ErrMalformed nor ErrInvalid: %v", err)
			}
			return
		}
		if !bytes.Equal(policy.Canonical(p), b) {
			t.Fatalf("accepted a non-canonical encoding:\n%q", b)
		}
	})
}

// FuzzBundle feeds bundles to ParseBundle and Verify. A parsed bundle must
// re-encode to the same bytes; a verified one must be what signing its
// policy with the fuzz key gives, since no one else can sign.
func FuzzBundle(f *testing.F) {
	for _, name := range validFiles {
		p, err := policy.Parse(readFile(f, name))
		if err != nil {
			f.Fatal(err)
		}
		b, err := policy.Sign(p, fuzzKey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	pub := fuzzKey.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := policy.ParseBundle(data); err == nil {
			if !bytes.Equal(b.Marshal(), data) {
				t.Fatalf("bundle does not re-encode to its bytes")
			}
		} else if !errors.Is(err, policy.ErrMalformed) {
			t.Fatalf("ParseBundle error is not ErrMalformed: %v", err)
		}
		p, err := policy.Verify(data, pub, 0)
		if err != nil {
			return
		}
		again, err := policy.Sign(p, fuzzKey)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("verified a bundle that the key did not produce: %q", data)
		}
	})
}

// FuzzKeys feeds PEM to the key parsers.
func FuzzKeys(f *testing.F) {
	f.Add(policy.MarshalPrivateKey(fuzzKey))
	f.Add(policy.MarshalPublicKey(fuzzKey.Public().(ed25519.PublicKey)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if priv, err := policy.ParsePrivateKey(b); err == nil && len(priv) != ed25519.PrivateKeySize {
			t.Fatalf("private key of %d bytes", len(priv))
		}
		if pub, err := policy.ParsePublicKey(b); err == nil && len(pub) != ed25519.PublicKeySize {
			t.Fatalf("public key of %d bytes", len(pub))
		}
	})
}
