package vault_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/vault"
)

// TestRemoveSealed: a wipe removes the sealed files the vault made and its
// index, and nothing else: not a file it did not make, not one changed
// since it was indexed, not what a symlink points at.
func TestRemoveSealed(t *testing.T) {
	e := newEnv(t)
	for _, rel := range []string{"LL-1/a.txt", "LL-1/b.txt", "LL-2/c.txt", "LL-2/changed.txt"} {
		e.write(rel, "notes "+rel, true)
		if _, err := e.v.SealFile(context.Background(), rel); err != nil {
			t.Fatal(err)
		}
	}
	// Changed since it was indexed (someone wrote over it).
	os.WriteFile(e.path("LL-2/changed.txt.age"), []byte("age-encryption.org/v1\nsomething else"), 0o600)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(e.path("LL-2/changed.txt.age"), past, past)
	// Not made by the vault: another age file, and a user's file.
	os.MkdirAll(e.path("LL-3"), 0o755)
	os.WriteFile(e.path("LL-3/theirs.age"), []byte("age-encryption.org/v1\n..."), 0o600)
	outside := t.TempDir() + "/precious.age"
	os.WriteFile(outside, []byte("age-encryption.org/v1\nprecious"), 0o600)
	if runtime.GOOS != "windows" {
		// An indexed name swapped for a symlink to a file elsewhere.
		os.Remove(e.path("LL-1/b.txt.age"))
		if err := os.Symlink(outside, e.path("LL-1/b.txt.age")); err != nil {
			t.Fatal(err)
		}
	}

	rm, err := e.v.RemoveSealed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"LL-1/", "LL-2/", "LL-2/changed.txt.age", "LL-3/", "LL-3/theirs.age"}
	wantRemoved, wantKept := 2, 2
	if runtime.GOOS != "windows" {
		want = append(want, "LL-1/b.txt.age")
	} else {
		wantRemoved, wantKept = 3, 1
	}
	e.wantFiles(want...)
	if rm.Removed != wantRemoved || rm.Kept != wantKept {
		t.Errorf("removal %+v, want %d removed and %d kept", rm, wantRemoved, wantKept)
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "age-encryption.org/v1\nprecious" {
		t.Errorf("the file the symlink points at: %q, %v", b, err)
	}
	if idx, err := vault.ReadIndex(e.store); err != nil || len(idx) != 0 {
		t.Errorf("index after the wipe: %+v, %v", idx, err)
	}
	// Again (a wipe resumed after a crash): nothing more to do.
	if rm, err := e.v.RemoveSealed(context.Background()); err != nil || rm.Removed != 0 || rm.Kept != 0 {
		t.Errorf("again: %+v, %v", rm, err)
	}
}

// TestWipeTidiesOwnTemps: what a wipe does with the cache (a scan, sealing
// what waits, RemoveSealed), with the identity locked as it usually is
// then, leaves none of the vault's own temporary files (partial ciphertext
// a crash left), but never removes a user's file that only looks like one:
// an age file (not the vault's) under a temporary file's name the vault
// did not make stays, under an ordinary name.
func TestWipeTidiesOwnTemps(t *testing.T) {
	e, _ := newLockedEnv(t)
	own := "LL-1/" + vault.TempName(e.v)
	e.write(own, "age-encryption.org/v1\n-> X25519 partial", true)
	other, _ := age.GenerateX25519Identity()
	var theirs bytes.Buffer
	w, _ := age.Encrypt(&theirs, other.Recipient())
	w.Write([]byte("someone's own age file"))
	w.Close()
	e.write("LL-1/.theirs.casekeep-tmp", theirs.String(), true)
	e.write("LL-1/a.txt", "notes", true)
	ctx := context.Background()
	rep, err := e.v.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Plaintext {
		e.v.SealFile(ctx, p)
	}
	if _, err := e.v.RemoveSealed(ctx); err != nil {
		t.Fatal(err)
	}
	e.wantFiles("LL-1/", "LL-1/theirs")
	if b, _ := os.ReadFile(e.path("LL-1/theirs")); !bytes.Equal(b, theirs.Bytes()) {
		t.Errorf("the user's file holds %q", b)
	}
}

// TestEscrowOnly: a vault opened with EscrowOnly and no device (a wipe
// whose identity does not open) seals to the escrow recipients alone, and
// its sealed files are removed by RemoveSealed like any other.
func TestEscrowOnly(t *testing.T) {
	e := newEnv(t, func(c *vault.Config) { c.Device, c.EscrowOnly = nil, true })
	e.write("LL-1/a.txt", "notes", true)
	if _, err := e.v.SealFile(context.Background(), "LL-1/a.txt"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.path("LL-1/a.txt.age"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n-> ")); n != 1 {
		t.Errorf("%d recipient stanzas, want the escrow's alone", n)
	}
	r, err := age.Decrypt(bytes.NewReader(b), e.Escrow)
	if err != nil {
		t.Fatalf("the escrow key does not open it: %v", err)
	}
	if got, _ := io.ReadAll(r); string(got) != "notes" {
		t.Errorf("escrow opens %q", got)
	}
	if rm, err := e.v.RemoveSealed(context.Background()); err != nil || rm.Removed != 1 || rm.Failed != 0 {
		t.Errorf("removal %+v, %v", rm, err)
	}
	e.wantFiles("LL-1/")
}
