package vault_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"filippo.io/age"
)

// FuzzScanSealedFile puts arbitrary bytes in the cache under a sealed file's
// name, as any user can, and scans. The scan must not fail or panic, must
// count the file as sealed exactly when its age header opens with the device
// identity (else list it as plaintext to seal), and must leave it as it was:
// a scan seals and removes nothing.
func FuzzScanSealedFile(f *testing.F) {
	e := newEnv(f)
	e.write("LL-0/seed.txt", "a case note", true)
	if _, err := e.v.SealFile(context.Background(), "LL-0/seed.txt"); err != nil {
		f.Fatal(err)
	}
	sealed, err := os.ReadFile(e.path("LL-0/seed.txt.age"))
	if err != nil {
		f.Fatal(err)
	}
	os.RemoveAll(e.path("LL-0"))
	f.Add(sealed)
	f.Add(sealed[:len(sealed)/2])
	f.Add([]byte("age-encryption.org/v1\n-> X25519 \n--- \n"))
	f.Add([]byte("age-encryption.org/v1\n"))
	f.Add([]byte("plain text that only looks like a case file"))

	ids, err := e.Keys.Identities()
	if err != nil {
		f.Fatal(err)
	}
	opens := func(b []byte) bool {
		hdr, err := age.ExtractHeader(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return false
		}
		key, err := age.DecryptHeader(hdr, ids...)
		clear(key)
		return err == nil
	}

	if err := os.MkdirAll(e.path("LL-1"), 0o755); err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		// A new name each time, so the index never vouches for a file by
		// its size and modification time alone.
		n++
		rel := fmt.Sprintf("LL-1/f%d.age", n)
		p := e.path(rel)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p)
		past := time.Now().Add(-time.Minute) // past the quiet period
		os.Chtimes(p, past, past)

		rep, err := e.v.Scan(context.Background())
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		want := opens(b)
		if got := rep.Sealed == 1; got != want {
			t.Fatalf("counted as sealed: %v; the header opens with the device identity: %v", got, want)
		}
		if !want && !slices.Contains(rep.Plaintext, rel) {
			t.Fatalf("a file that does not open is not listed to seal: %+v", rep)
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("the scan changed or removed the file: %v", err)
		}
	})
}
