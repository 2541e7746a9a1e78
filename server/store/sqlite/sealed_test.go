package sqlite_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/kek"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

// fileBytes is what the database file and its WAL hold.
func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestLeaseKeySealedOnDisk: the database file and its WAL never hold a
// lease key in the clear, only sealed with the key-encryption key; after
// a wipe is acknowledged, not even sealed: secure_delete zeroes it and a
// TRUNCATE checkpoint empties the WAL.
func TestLeaseKeySealedOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "casekeep.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sealer, err := kek.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, kek.File)); err != nil || fi.Size() != 32 || (fi.Mode().Perm()&0o077 != 0 && os.PathSeparator == '/') {
		t.Fatalf("the key-encryption key file: %v %v", fi, err)
	}
	s.UseKeySealer(sealer)
	ctx := t.Context()
	now := time.Now().UTC()
	if err := s.CreateDevice(ctx, store.Device{ID: "d", SigningKey: make([]byte, 32), Hostname: "h", EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}
	res, err := s.ServeLeases(ctx, []store.LeaseRequest{{DeviceID: "d", Kind: store.LeaseKindKey, At: now, Window: time.Hour,
		Source: "192.0.2.1:1", Nonce: wire.NewNonce(), AgentTime: now}})
	if err != nil || res[0].Outcome != store.LeaseServed {
		t.Fatalf("%+v %v", res, err)
	}
	key := res[0].Key
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sealed []byte
	if err := db.QueryRow(`SELECT key_bytes FROM lease_keys`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, key) || len(sealed) != len(key)+1+24+16 {
		t.Fatalf("stored %x for the key %x", sealed, key)
	}
	if k, err := sealer.Open("d", res[0].Record.KeyID, sealed); err != nil || !bytes.Equal(k, key) {
		t.Errorf("the stored bytes open to %x, %v", k, err)
	}
	if _, err := sealer.Open("other", res[0].Record.KeyID, sealed); err == nil {
		t.Errorf("the sealed key opens for another device")
	}
	if bytes.Contains(fileBytes(t, path), key) {
		t.Fatalf("the lease key is in the clear in the database files")
	}
	// A wipe, acknowledged done: the key is shredded.
	w, err := s.RequestCommand(ctx, store.Command{DeviceID: "d", Type: wire.CommandWipe, RequestedAt: now, RequestedBy: "it"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("heartbeat 1")
	sum := sha256.Sum256(body)
	hb := store.Heartbeat{DeviceID: "d", Seq: 1, Hash: sum[:], Body: body,
		State: store.State{Seq: 1, Hash: sum[:], SentAt: now, ReceivedAt: now.Add(time.Second), Lease: wire.LeaseWiped},
		Acks:  []store.CommandAck{{ID: w.ID, Type: wire.CommandWipe, Result: wire.AckDone, At: now}}}
	if out, err := s.Ingest(ctx, []store.Heartbeat{hb}); err != nil || out[0].Result != store.Accepted {
		t.Fatalf("%+v %v", out, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for bytes.Contains(fileBytes(t, path), sealed) {
		if time.Now().After(deadline) {
			t.Fatalf("10s after the wipe the sealed key is still in the database files")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
