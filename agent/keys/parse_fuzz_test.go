package keys

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-tpm/tpm2"

	"github.com/casekeep/casekeep/internal/wire"
)

// FuzzParse feeds the identity file parser arbitrary bytes, as a damaged
// state folder would. It must not panic; what it accepts must have a current
// identity whose recipient it reports, and its errors must never quote the
// file (which may hold key material).
func FuzzParse(f *testing.F) {
	x, _ := age.GenerateX25519Identity()
	h, _ := age.GenerateHybridIdentity()
	f.Add([]byte(x.String() + "\n"))
	f.Add([]byte("# created: 2026-01-01\n" + x.String() + "\n" + h.String() + "\n"))
	f.Add([]byte("AGE-SECRET-KEY-1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := parse(b, "identity")
		if err != nil {
			for _, line := range strings.Fields(string(b)) {
				if len(line) >= 16 && strings.Contains(err.Error(), line) {
					t.Fatalf("the error quotes the file: %v", err)
				}
			}
			return
		}
		if len(file.ids) == 0 || file.recipient == nil {
			t.Fatal("accepted a file with no current identity")
		}
	})
}

// FuzzParseWrapped feeds the wrapped identity parser arbitrary bytes. It
// must not panic; what it accepts and opens with the key must give as many
// identities as the header has recipients.
func FuzzParseWrapped(f *testing.F) {
	key := leaseKey("fuzz")
	f.Add(wrappedSample(f, key))
	f.Add([]byte(wrappedMagic + "\ndevice " + devA + "\nkey-id k1\n---\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := parseWrapped(b)
		if err != nil {
			return
		}
		if len(w.recipients) == 0 || len(w.header)+len(w.sealed) != len(b) {
			t.Fatalf("accepted a header with %d recipients, %d+%d of %d bytes", len(w.recipients), len(w.header), len(w.sealed), len(b))
		}
		p, ids, err := w.open(devA, key)
		if err != nil {
			return
		}
		defer p.Destroy()
		if len(ids) != len(w.recipients) {
			t.Fatalf("%d identities for %d recipients", len(ids), len(w.recipients))
		}
	})
}

// FuzzParseOffline feeds the offline copy's parser arbitrary bytes (a
// protector returns what was stored, which a damaged disk may change).
func FuzzParseOffline(f *testing.F) {
	b := marshalOffline(devA, "k1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), leaseKey("fuzz"))
	f.Add(bytes.Clone(b.Bytes()))
	b.Destroy()
	f.Add([]byte(offlineMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseOffline(b)
		if err != nil {
			return
		}
		if len(l.key) != wire.LeaseKeySize || !wire.ValidDeviceID(l.deviceID) || !wire.ValidKeyID(l.keyID) {
			t.Fatalf("accepted %+v", l)
		}
	})
}

// FuzzParseTPMObject feeds the TPM-sealed copy's file parser, and go-tpm's
// unmarshalling of its parts, arbitrary bytes.
func FuzzParseTPMObject(f *testing.F) {
	f.Add(marshalTPMObject([]byte{0, 2, 1, 2}, []byte{0, 1, 9}))
	f.Add([]byte(tpmMagic + "\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, priv, err := parseTPMObject(b)
		if err != nil {
			return
		}
		if !bytes.Equal(marshalTPMObject(pub, priv), b) {
			t.Fatal("parse and marshal disagree")
		}
		tpm2.Unmarshal[tpm2.TPM2BPublic](pub)
		tpm2.Unmarshal[tpm2.TPM2BPrivate](priv)
	})
}

// FuzzParseKeychainValue feeds the parser of `security`'s output arbitrary
// bytes; its errors must never quote the output.
func FuzzParseKeychainValue(f *testing.F) {
	f.Add([]byte("security> " + keychainMarker + "6b6579\nsecurity> "))
	f.Add([]byte(keychainMarker))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseKeychainValue(b)
		if err != nil {
			if len(b) > 8 && strings.Contains(err.Error(), string(b)) {
				t.Fatalf("the error quotes the output: %v", err)
			}
			return
		}
		if len(v) == 0 {
			t.Fatal("accepted an empty value")
		}
	})
}
