package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
)

// wrappedSample wraps an X25519 and a hybrid identity for devA.
func wrappedSample(t testing.TB, key []byte) []byte {
	t.Helper()
	x, _ := age.GenerateX25519Identity()
	h, _ := age.GenerateHybridIdentity()
	data, err := sealWrapped(devA, "k1", key, []byte(h.String()+"\n"+x.String()+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWrappedRoundTrip(t *testing.T) {
	key := leaseKey("wrapped")
	data := wrappedSample(t, key)
	if bytes.Contains(data, []byte("AGE-SECRET-KEY")) {
		t.Fatal("the wrapped file holds a secret key in clear")
	}
	w, err := parseWrapped(data)
	if err != nil {
		t.Fatal(err)
	}
	if w.deviceID != devA || w.keyID != "k1" || len(w.recipients) != 2 || !strings.HasPrefix(w.recipients[0], "age1pq1") {
		t.Fatalf("parsed header: %s %s %v", w.deviceID, w.keyID, w.recipients)
	}
	payload, ids, err := w.open(devA, key)
	if err != nil {
		t.Fatal(err)
	}
	defer payload.Destroy()
	if len(ids) != 2 {
		t.Fatalf("%d identities", len(ids))
	}
	if _, err := sealWrapped(devA, "k1", key, []byte("not an identity\n")); !errors.Is(err, ErrDamaged) {
		t.Errorf("sealing garbage: %v", err)
	}
}

func TestWrappedRefuses(t *testing.T) {
	key := leaseKey("wrapped")
	data := wrappedSample(t, key)
	for n := range len(data) {
		if _, err := parseWrapped(data[:n]); !errors.Is(err, ErrDamaged) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(data), err)
		}
	}
	if _, err := parseWrapped(append(bytes.Clone(data), 0)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a byte more: %v", err)
	}

	openErr := func(data []byte, deviceID string, key []byte) error {
		w, err := parseWrapped(data)
		if err != nil {
			return err
		}
		p, _, err := w.open(deviceID, key)
		p.Destroy()
		return err
	}
	if err := openErr(data, devB, key); !errors.Is(err, ErrOtherDevice) {
		t.Errorf("opened as another device: %v", err)
	}
	if err := openErr(data, devA, leaseKey("wrong")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("opened with another key: %v", err)
	}
	// A header edited, or moved from another file, does not authenticate.
	edits := map[string][2]string{
		"device":    {"device " + devA, "device " + devB},
		"key ID":    {"key-id k1", "key-id k2"},
		"recipient": {"recipient age1pq1", "recipient age1pq1"}, // replaced below
	}
	for name, e := range edits {
		bad := bytes.Replace(data, []byte(e[0]), []byte(e[1]), 1)
		deviceID := devA
		if name == "device" {
			deviceID = devB
		}
		if name == "recipient" {
			// Swap the two recipient lines.
			w, _ := parseWrapped(data)
			r0, r1 := "recipient "+w.recipients[0]+"\n", "recipient "+w.recipients[1]+"\n"
			bad = bytes.Replace(data, []byte(r0+r1), []byte(r1+r0), 1)
		}
		if err := openErr(bad, deviceID, key); !errors.Is(err, ErrDamaged) {
			t.Errorf("a header with another %s: %v", name, err)
		}
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)-1] ^= 1
	if err := openErr(flipped, devA, key); !errors.Is(err, ErrDamaged) {
		t.Errorf("an altered ciphertext: %v", err)
	}
}
