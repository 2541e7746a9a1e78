package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/kek"
)

// TestKEKBesideDB: serve warns when the key-encryption key shares the
// SQLite database's folder (a backup of it holds both), and not when
// --kek puts it elsewhere or the store is PostgreSQL.
func TestKEKBesideDB(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "server.db")
	if w := kekBesideDB(db, kekFile("", dir)); !strings.Contains(w, "a backup of that folder holds both") || !strings.Contains(w, "--kek FILE") {
		t.Errorf("the key beside the database: %q", w)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err == nil {
		if w := kekBesideDB(db, filepath.Join(link, kek.File)); w == "" {
			t.Errorf("the same folder through a symbolic link: no warning")
		}
	}
	if w := kekBesideDB(db, kekFile(filepath.Join(t.TempDir(), "lease-kek"), dir)); w != "" {
		t.Errorf("--kek elsewhere: %q", w)
	}
	if w := kekBesideDB("postgres://casekeep@db/casekeep", kekFile("", dir)); w != "" {
		t.Errorf("PostgreSQL: %q", w)
	}
}

// TestLeaseRotateKEK: lease rotate takes --kek, and makes no key of its
// own: with a wrong --data or --kek it fails, instead of sealing the new
// lease key with a key the server does not have.
func TestLeaseRotateKEK(t *testing.T) {
	r := newActionsRig(t)
	id := deviceOf(t, r, frontEnd{name: "command line"})
	res, err := r.Store.ServeLeases(t.Context(), []store.LeaseRequest{{DeviceID: id, Kind: store.LeaseKindEnroll, At: time.Now(), Window: time.Hour, Source: "test"}})
	if err != nil || res[0].Outcome != store.LeaseServed {
		t.Fatal(res, err)
	}
	missing := filepath.Join(t.TempDir(), "lease-kek")
	if out := run(t, "lease", "rotate", id, "--db", r.DB, "--kek", missing); out.Code != 1 || !strings.Contains(out.Stderr, "give the server's --data or --kek") {
		t.Errorf("a missing --kek: %+v", out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("lease rotate made a key-encryption key")
	}
	kf := filepath.Join(filepath.Dir(strings.TrimPrefix(r.DB, "sqlite:")), kek.File)
	if out := run(t, "lease", "rotate", id, "--db", r.DB, "--kek", kf); out.Code != 0 {
		t.Errorf("--kek the server's: %+v", out)
	}
}
