package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/casekeep/casekeep/internal/wire"
)

// FuzzDecodeRecord feeds the spool's record decoder arbitrary bytes, as a
// damaged disk would. It must never panic, must accept only what encodes
// back to the same bytes, and must refuse any record with one bit flipped.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord([]byte(`{"v":1}`), bytes.Repeat([]byte{7}, 64)), uint(0))
	f.Add(encodeRecord(nil, make([]byte, 64)), uint(300))
	f.Add([]byte{}, uint(0))
	f.Add(bytes.Repeat([]byte{0xff}, 40), uint(1))
	f.Fuzz(func(t *testing.T, rec []byte, flip uint) {
		body, sig, err := decodeRecord(rec)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("an error that is not errCorrupt: %v", err)
			}
			return
		}
		if len(sig) != 64 || !bytes.Equal(encodeRecord(body, sig), rec) {
			t.Fatalf("accepted a record that does not encode back to itself")
		}
		damaged := bytes.Clone(rec)
		damaged[int(flip%uint(len(rec)))] ^= 1 << (flip % 8)
		if _, _, err := decodeRecord(damaged); !errors.Is(err, errCorrupt) {
			t.Fatalf("a record with a bit flipped was accepted")
		}
	})
}

// FuzzLoadEnrollment feeds the enrollment file reader arbitrary bytes, as a
// damaged state folder would: it must not panic, and what it accepts must
// have a valid device ID and keys and a pin of the right sizes.
func FuzzLoadEnrollment(f *testing.F) {
	id, _ := wire.NewDeviceID()
	k := bytes.Repeat([]byte{1}, 32)
	good, _ := json.Marshal(Enrollment{Server: "https://ck.example:8443", DeviceID: id, ServerKey: k, PolicyKey: k, TLSPin: k})
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, EnrollmentFile), good, 0o600)
	if _, err := LoadEnrollment(dir); err != nil {
		f.Fatalf("a good enrollment file: %v", err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, EnrollmentFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := LoadEnrollment(dir)
		if err != nil {
			return
		}
		if !wire.ValidDeviceID(e.DeviceID) || len(e.ServerKey) != 32 || len(e.PolicyKey) != 32 || len(e.TLSPin) != 32 {
			t.Fatalf("accepted %+v", e)
		}
	})
}
