package keys

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// offlineDevice makes an enrolled device, unlocked, whose offline copy is
// held by the given protectors; and a file sealed to it.
func offlineDevice(t *testing.T, ps ...protector) (*Keyring, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	k, err := create(dir, devA, leaseKey("offline"), "k1", false, ps)
	if err != nil {
		t.Fatal(err)
	}
	return k, dir, sealTo(t, "case file", k.Recipient())
}

func TestOfflineRoundTrip(t *testing.T) {
	fake := &fakeProtector{k: wire.OfflineTPM}
	k, dir, sealed := offlineDevice(t, fake)
	if kind, _ := k.Offline(); kind != wire.OfflineNone {
		t.Fatalf("an offline copy before SaveOffline: %s", kind)
	}
	now := time.Now()
	until := now.Add(72 * time.Hour)
	if err := k.SaveOffline(until); err != nil {
		t.Fatal(err)
	}
	kind, got := k.Offline()
	if kind != wire.OfflineTPM || !got.Equal(until.Truncate(time.Second)) {
		t.Fatalf("Offline() = %s, %v; want tpm, %v", kind, got, until)
	}
	if !bytes.Contains(fake.data, []byte(devA)) || !bytes.Contains(fake.data, leaseKey("offline")) {
		t.Fatal("the copy does not hold the device and the lease key")
	}

	// A restart with the server unreachable.
	r, err := open(dir, devA, []protector{fake})
	if err != nil {
		t.Fatal(err)
	}
	if kind, _ := r.Offline(); kind != wire.OfflineTPM {
		t.Fatalf("after a restart the copy is %s", kind)
	}
	if err := r.UnlockOffline(now.Add(71 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r.State() != wire.LeaseOffline {
		t.Fatalf("state %s, want offline", r.State())
	}
	if _, u := r.Offline(); !u.Equal(until.Truncate(time.Second)) {
		t.Fatalf("the copy's expiry read back as %v", u)
	}
	mustOpen(t, r, sealed, "case file")

	// The server answers again.
	if err := r.Unlock(leaseKey("offline"), "k1"); err != nil {
		t.Fatal(err)
	}
	if r.State() != wire.LeaseUnlocked {
		t.Fatalf("state %s, want unlocked", r.State())
	}
	if err := r.UnlockOffline(now); err != nil || r.State() != wire.LeaseUnlocked {
		t.Fatalf("UnlockOffline while unlocked: %v, state %s", err, r.State())
	}

	if err := r.DropOffline(); err != nil {
		t.Fatal(err)
	}
	if kind, _ := r.Offline(); kind != wire.OfflineNone || fake.held() {
		t.Fatal("DropOffline kept the copy")
	}
	r.Lock()
	wantErr(t, "UnlockOffline after DropOffline", r.UnlockOffline(now), ErrLocked, ErrNoOffline)
}

func TestOfflineExpiry(t *testing.T) {
	fake := &fakeProtector{k: wire.OfflineOS}
	k, dir, sealed := offlineDevice(t, fake)
	now := time.Now()
	if err := k.SaveOffline(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, _ := open(dir, devA, []protector{fake})
	wantErr(t, "UnlockOffline at the expiry", r.UnlockOffline(now.Add(time.Hour)), ErrLocked, ErrExpired)
	if fake.held() {
		t.Fatal("the expired copy was not destroyed")
	}
	if err := opens(r, sealed, ""); err == nil {
		t.Fatal("opened after the window")
	}

	// Expire, while running: the copy goes, and the vault locks.
	if err := k.SaveOffline(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if k.Expire(now.Add(59 * time.Minute)) {
		t.Fatal("Expire within the window")
	}
	mustOpen(t, k, sealed, "case file")
	if !k.Expire(now.Add(61 * time.Minute)) {
		t.Fatal("Expire past the window did nothing")
	}
	if k.State() != wire.LeaseLocked || fake.held() {
		t.Fatalf("after Expire: state %s, copy held %v", k.State(), fake.held())
	}
	if err := opens(k, sealed, ""); err == nil {
		t.Fatal("opened after Expire")
	}
	if k.Expire(now.Add(62 * time.Minute)) {
		t.Error("Expire with no copy reported true")
	}
}

func TestOfflineRefusesOtherDevice(t *testing.T) {
	fake := &fakeProtector{k: wire.OfflineOS}
	k, _, _ := offlineDevice(t, fake)
	if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Another laptop's state folder, with this laptop's copy in its protector.
	other := t.TempDir()
	if _, err := create(other, devB, leaseKey("b"), "k1", false, nil); err != nil {
		t.Fatal(err)
	}
	r, err := open(other, devB, []protector{fake})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "another device's copy", r.UnlockOffline(time.Now()), ErrLocked, ErrOtherDevice)
	if fake.held() {
		t.Error("another device's copy was kept")
	}

	// A damaged copy.
	fake.save([]byte("ckoffl01 nonsense"))
	r, _ = open(other, devB, []protector{fake})
	wantErr(t, "a damaged copy", r.UnlockOffline(time.Now()), ErrLocked, ErrDamaged)
}

func TestOfflineWindowZero(t *testing.T) {
	fake := &fakeProtector{k: wire.OfflineOS}
	k, _, _ := offlineDevice(t, fake)
	if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveOffline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if kind, _ := k.Offline(); kind != wire.OfflineNone || fake.held() {
		t.Fatal("an until not in the future kept the copy")
	}
	k.Lock()
	wantErr(t, "SaveOffline while locked", k.SaveOffline(time.Now().Add(time.Hour)), ErrLocked)
}

// TestOfflineRenewal: renewals after every lease are cheap, and never let
// the copy outlive what the server granted.
func TestOfflineRenewal(t *testing.T) {
	fake := &fakeProtector{k: wire.OfflineTPM}
	k, _, _ := offlineDevice(t, fake)
	t0 := time.Now().Add(72 * time.Hour)
	save := func(until time.Time, wantSaves int) {
		t.Helper()
		if err := k.SaveOffline(until); err != nil {
			t.Fatal(err)
		}
		if fake.saves != wantSaves {
			t.Fatalf("SaveOffline(+%v): %d seals, want %d", until.Sub(t0), fake.saves, wantSaves)
		}
		if _, u := k.Offline(); u.After(until) {
			t.Fatalf("the copy expires at %v, after the %v granted", u, until)
		}
	}
	save(t0, 1)
	save(t0.Add(time.Minute), 1)                             // a heartbeat later: skipped
	save(t0.Add(9*time.Minute), 1)                           // still within resealAfter
	save(t0.Add(10*time.Minute), 2)                          // moved enough
	save(t0.Add(5*time.Minute), 3)                           // the server shortened the window
	save(t0.Add(5*time.Minute), 3)                           // the same again
	if err := k.Rewrap(leaseKey("next"), "k2"); err != nil { // a new key: saved again
		t.Fatal(err)
	}
	if fake.saves != 4 {
		t.Fatalf("Rewrap did not save the copy again (%d seals)", fake.saves)
	}
}

func TestOfflineFallback(t *testing.T) {
	tpm := &fakeProtector{k: wire.OfflineTPM, failing: errors.New("TPM busy")}
	osp := &fakeProtector{k: wire.OfflineOS}
	k, _, _ := offlineDevice(t, tpm, osp)
	if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kind, _ := k.Offline(); kind != wire.OfflineOS {
		t.Fatalf("held as %s, want os", kind)
	}
	// The TPM is back: the next reseal moves the copy there, and removes
	// the weaker one.
	tpm.failing = nil
	if err := k.SaveOffline(time.Now().Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kind, _ := k.Offline(); kind != wire.OfflineTPM || osp.held() {
		t.Fatalf("held as %s (os copy left: %v), want tpm alone", kind, osp.held())
	}
	// Nothing works: no copy, and an error.
	tpm.failing, osp.failing = errors.New("TPM gone"), errors.New("disk full")
	if err := k.SaveOffline(time.Now().Add(3 * time.Hour)); err == nil {
		t.Fatal("SaveOffline succeeded with no protector working")
	}
	if kind, _ := k.Offline(); kind != wire.OfflineNone || tpm.held() || osp.held() {
		t.Fatalf("held as %s after every protector failed", kind)
	}
}

// TestOfflineFile is the Linux fallback: a root-only file, mode 0600,
// and no temporary file left behind.
func TestOfflineFile(t *testing.T) {
	dir := t.TempDir()
	k, err := create(dir, devA, leaseKey("file"), "k1", false, []protector{osFile(dir)})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, offlinePrefix+"os")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("offline copy mode %v", fi.Mode().Perm())
	}
	// A crash mid-write left a temporary copy: the next Open removes it.
	stale := filepath.Join(dir, "."+offlinePrefix+"os.123.casekeep-tmp")
	os.WriteFile(stale, []byte("lease key"), 0o600)
	if _, err := open(dir, devA, []protector{osFile(dir)}); err != nil {
		t.Fatal(err)
	}
	if exists(stale) {
		t.Fatal("a temporary copy of the lease survived Open")
	}
	k.Lock()
	if err := k.UnlockOffline(time.Now()); err != nil {
		t.Fatal(err)
	}
}

var testUntil = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestParseOffline(t *testing.T) {
	until := testUntil
	b := marshalOffline(devA, "k1", until, leaseKey("p"))
	defer b.Destroy()
	l, err := parseOffline(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if l.deviceID != devA || l.keyID != "k1" || !l.until.Equal(until) || !bytes.Equal(l.key, leaseKey("p")) {
		t.Fatalf("parsed %+v", l)
	}
	for n := range len(b.Bytes()) {
		if _, err := parseOffline(b.Bytes()[:n]); !errors.Is(err, ErrDamaged) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := parseOffline(append(bytes.Clone(b.Bytes()), 0)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("one byte more: %v", err)
	}
}

// TestConcurrent runs the vault's calls beside the orchestrator's, for the
// race detector.
func TestConcurrent(t *testing.T) {
	fake := &fakeProtector{k: wire.OfflineTPM}
	k, _, sealed := offlineDevice(t, fake)
	key := leaseKey("offline")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			k.SaveOffline(time.Now().Add(time.Duration(i+1) * time.Hour))
			k.Lock()
			k.UnlockOffline(time.Now())
			k.Unlock(key, "k1")
			k.Offline()
			k.State()
		}
	}()
	for range 200 {
		k.Recipient()
		if err := opens(k, sealed, "case file"); err != nil && !errors.Is(err, ErrLocked) {
			t.Fatal(err)
		}
	}
	<-done
}
