package assess_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
)

var day = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func at(h, m int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// device is a device's history, built through the store as the server
// builds it.
type device struct {
	t    *testing.T
	st   store.Store
	id   string
	seq  uint64
	prev []byte
}

func newDevice(t *testing.T, st store.Store, id string) *device {
	t.Helper()
	if err := st.CreateDevice(context.Background(), store.Device{ID: id, SigningKey: make([]byte, 32), Hostname: "laptop-" + id, EnrolledAt: at(8, 0)}); err != nil {
		t.Fatal(err)
	}
	return &device{t: t, st: st, id: id}
}

// beat stores a heartbeat received at when, with the lease state and
// offline copy given, and acks.
func (d *device) beat(when time.Time, lease, offline string, acks ...store.CommandAck) {
	d.t.Helper()
	d.seq++
	body := []byte(fmt.Sprintf("%s/%d", d.id, d.seq))
	sum := sha256.Sum256(body)
	s := store.State{Seq: d.seq, Hash: sum[:], SentAt: when, ReceivedAt: when, AgentVersion: "1", PolicyVersion: 1, SealedFiles: 10,
		CaseRefs: 1, DiskEncryption: "pass", Compliant: true, Lease: lease, OfflineCopy: offline}
	out, err := d.st.Ingest(context.Background(), []store.Heartbeat{{DeviceID: d.id, Seq: d.seq, Hash: sum[:], PrevHash: d.prev, Body: body,
		State: s, Acks: acks}})
	if err != nil || out[0].Result != store.Accepted {
		d.t.Fatalf("ingest: %v %v", out, err)
	}
	d.prev = sum[:]
}

// lease asks for the device's lease at when from source.
func (d *device) lease(kind string, when time.Time, source string) store.LeaseResult {
	d.t.Helper()
	r := store.LeaseRequest{DeviceID: d.id, Kind: kind, At: when, Window: 72 * time.Hour, Source: source}
	if kind != store.LeaseKindEnroll {
		r.Nonce, r.AgentTime = wire.NewNonce(), when
	}
	res, err := d.st.ServeLeases(context.Background(), []store.LeaseRequest{r})
	if err != nil {
		d.t.Fatal(err)
	}
	return res[0]
}

func assessed(t *testing.T, st store.Store, id string, lost, now time.Time) *assess.Assessment {
	t.Helper()
	a, err := assess.Assess(context.Background(), st, assess.Input{DeviceID: id, LostAt: lost, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func says(t *testing.T, what string, a *assess.Assessment, want ...string) {
	t.Helper()
	all := strings.Join(a.Statements, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("%s: the statements lack\n%s\nthey are:\n%s", what, w, all)
		}
	}
}

func saysNot(t *testing.T, what string, a *assess.Assessment, not ...string) {
	t.Helper()
	all := strings.Join(a.Statements, "\n")
	for _, w := range not {
		if strings.Contains(all, w) {
			t.Errorf("%s: the statements say %q:\n%s", what, w, all)
		}
	}
}

// TestCarefulDevice: a laptop whose offline copy is held in its TPM, last
// served its key at 13:12, lost at 14:00, refused after, wiped at its next
// contact.
func TestCarefulDevice(t *testing.T) {
	st, _ := servertest.Store(t)
	ctx := context.Background()
	d := newDevice(t, st, "dev-careful")
	d.lease(store.LeaseKindEnroll, at(8, 0), "10.0.0.5:5000")
	d.beat(at(13, 0), wire.LeaseUnlocked, wire.OfflineTPM)
	d.lease(store.LeaseKindRenew, at(13, 12), "10.0.0.5:5000")
	if err := st.MarkLost(ctx, store.LostReport{DeviceID: d.id, LostAt: at(14, 0), DiscoveredAt: at(14, 30), RecordedAt: at(14, 30), By: "it"}); err != nil {
		t.Fatal(err)
	}
	w, err := st.RequestCommand(ctx, store.Command{DeviceID: d.id, Type: wire.CommandWipe, RequestedAt: at(14, 31), RequestedBy: "it"})
	if err != nil {
		t.Fatal(err)
	}
	if r := d.lease(store.LeaseKindKey, at(15, 0), "203.0.113.9:4000"); r.Outcome != store.LeaseRefused {
		t.Fatalf("after the loss: %+v", r)
	}
	if _, err := st.DeliverCommands(ctx, d.id, at(15, 0), 10); err != nil {
		t.Fatal(err)
	}
	d.beat(at(15, 1), wire.LeaseWiped, wire.OfflineNone, store.CommandAck{ID: w.ID, Type: wire.CommandWipe, Result: wire.AckDone, Reason: "10 sealed files removed", At: at(15, 1)})

	a := assessed(t, st, d.id, at(14, 0), day.Add(5*24*time.Hour))
	says(t, "careful", a,
		"The vault key was last served at 2026-11-22 13:12 UTC and no lease was served after the loss at 2026-11-22 14:00 UTC; "+
			"the laptop's offline copy (sealed to its TPM, so it cannot be used on another computer) was still valid at the loss and could be used until 2026-11-25 13:12 UTC: the last lease before the loss plus the offline window of 3 days recorded with it; "+
			"the agent stops using its lease at 2026-11-25 13:12 UTC (the agent enforces that time, not the copy); "+
			"the agent then deletes its copy, but that copy is sealed to the TPM without binding to the laptop's boot state: "+
			"someone with administrator access to this laptop who took it, or recovers it from the disk's free blocks, could still unseal it and open the vault after that time.",
		"After the loss the server refused 1 lease request (wiped 1), the first at 2026-11-22 15:00 UTC from 203.0.113.9:4000: the device asked for its key and was not given it.",
		"A wipe was requested at 2026-11-22 14:31 UTC by it; it was delivered at 2026-11-22 15:00 UTC, and the device acknowledged it done at 2026-11-22 15:01 UTC (by the device's clock; received 2026-11-22 15:01 UTC): 10 sealed files removed; the server refuses the device its lease since the wipe was requested.",
		"The server destroyed the device's lease keys at 2026-11-22 15:01 UTC: it holds no copy of the device's vault key and can no longer serve it; "+
			"the agent acknowledged the wipe done at 2026-11-22 15:01 UTC, having deleted the sealed files, its wrapped identity and its copies of the lease from the laptop "+
			"(deleted data may still be recoverable from the disk's free blocks, which only the disk encryption protects); the agent said: 10 sealed files removed. "+
			"The council's escrow keys open only copies of the files kept elsewhere, as in the case-management system.",
		"and the device acknowledged it done at 2026-11-22 15:01 UTC (by the device's clock; received 2026-11-22 15:01 UTC): 10 sealed files removed;")
	saysNot(t, "careful", a, "WAS served", "operating system only", "not protected by a lease", "does not yet", "unreadable", "only the council's escrow keys open")
	var h strings.Builder
	if err := a.WriteHTML(&h); err != nil || !strings.Contains(h.String(), "<tr><th>wipe requested</th><td>2026-11-22 14:31 UTC by it; done, delivered 2026-11-22 15:00 UTC, acknowledged done 2026-11-22 15:01 UTC: 10 sealed files removed</td></tr>") {
		t.Errorf("the HTML: %v\n%s", err, h.String())
	}
	if !a.LeaseBefore.At.Equal(at(13, 12)) || a.Leases.ServedAfter != 0 || a.Leases.Refusals() != 1 || !a.Until().Equal(at(13, 12).Add(72*time.Hour)) {
		t.Errorf("lease evidence %+v, %+v", a.LeaseBefore, a.Leases)
	}
	// Assessed before the window ran out: it says until when the agent
	// could still open the vault.
	a = assessed(t, st, d.id, at(14, 0), at(16, 0))
	says(t, "careful, soon after", a, "; until 2026-11-25 13:12 UTC the laptop's agent can still open the vault without the server, unless it has carried out a lock or a wipe; the agent then deletes its copy")
}

// TestCarelessDevice: a laptop whose offline copy the OS alone protects,
// served its key after the loss from another address (it was marked lost
// too late), its copy valid at the loss and renewed after.
func TestCarelessDevice(t *testing.T) {
	st, _ := servertest.Store(t)
	ctx := context.Background()
	d := newDevice(t, st, "dev-careless")
	d.lease(store.LeaseKindEnroll, at(8, 0), "10.0.0.5:5000")
	d.beat(at(13, 0), wire.LeaseOffline, wire.OfflineOS)
	d.lease(store.LeaseKindRenew, at(13, 12), "10.0.0.5:5000")
	d.lease(store.LeaseKindKey, at(14, 30), "203.0.113.9:4000")
	d.lease(store.LeaseKindRenew, at(15, 30), "203.0.113.9:4001")
	if err := st.MarkLost(ctx, store.LostReport{DeviceID: d.id, LostAt: at(14, 0), DiscoveredAt: at(16, 0), RecordedAt: at(16, 0), By: "it"}); err != nil {
		t.Fatal(err)
	}
	d.lease(store.LeaseKindKey, at(16, 5), "203.0.113.9:4002")

	a := assessed(t, st, d.id, at(14, 0), at(16, 10))
	says(t, "careless", a,
		"The vault key was last served at 2026-11-22 13:12 UTC, before the loss at 2026-11-22 14:00 UTC, and a lease WAS served after it twice, "+
			"the first at 2026-11-22 14:30 UTC from 203.0.113.9:4000 (not the address of the last lease before the loss, 10.0.0.5:5000), "+
			"the last at 2026-11-22 15:30 UTC from 203.0.113.9:4001, the key itself sent once; "+
			"the laptop's offline copy (held by the operating system only, not by a TPM: a root-only file on Linux, DPAPI machine scope on Windows, the System keychain on macOS, so only as safe as the disk encryption) was still valid at the loss and could be used until 2026-11-25 13:12 UTC: the last lease before the loss plus the offline window of 3 days recorded with it; "+
			"with the leases served after the loss, the vault could be opened until 2026-11-25 15:30 UTC; "+
			"until 2026-11-25 15:30 UTC the laptop's agent can still open the vault without the server, unless it has carried out a lock or a wipe; "+
			"the agent then deletes its copy, but someone with administrator access to the laptop who took it, or recovers it from the disk's free blocks "+
			"(anyone who reads the disk, if it is not encrypted), could still open the vault with it after that time.",
		"Its offline copy was held by the operating system only, not by a TPM: it is only as safe as the disk encryption (the device reported full-disk encryption on at the loss, so it is as safe as that encryption and the laptop's accounts); until 2026-11-25 15:30 UTC someone who could read the laptop's disk, or act as its operating system (root or SYSTEM), could use it to open the vault, and after that time too with a copy of it taken before the agent deleted it.",
		"After the loss the server refused 1 lease request (lost 1), the first at 2026-11-22 16:05 UTC from 203.0.113.9:4002")
	saysNot(t, "careless", a, "unreadable", "destroyed the device's lease keys")
	// The CSV carries the lease evidence.
	var b strings.Builder
	if err := a.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"lease,last_before,2026-11-22T13:12:00Z", "lease,offline_copy,os", "lease,until,2026-11-25T15:30:00Z",
		"lease,served_after,2", "lease,first_after,2026-11-22T14:30:00Z | 203.0.113.9:4000", "lease,last_after,2026-11-22T15:30:00Z | 203.0.113.9:4001",
		"lease_refused_after,lost,1", "lease,first_refused_after,2026-11-22T16:05:00Z | 203.0.113.9:4002"} {
		if !strings.Contains(b.String(), row) {
			t.Errorf("the CSV lacks %q:\n%s", row, b.String())
		}
	}
	var h strings.Builder
	if err := a.WriteHTML(&h); err != nil || !strings.Contains(h.String(), `<table class="facts" id="leases-after">`) || !strings.Contains(h.String(), "<strong>2</strong> (the key itself 1)") {
		t.Errorf("the HTML: %v\n%s", err, h.String())
	}
}

// TestNoLease: a device never served a lease, reporting its identity in
// plaintext: the lease log bounds nothing, and the statements say so.
func TestNoLease(t *testing.T) {
	st, _ := servertest.Store(t)
	d := newDevice(t, st, "dev-old")
	d.beat(at(13, 0), wire.LeasePlaintext, "")
	a := assessed(t, st, d.id, at(14, 0), at(16, 0))
	says(t, "no lease", a, `The server served no vault lease to this device before the loss and the device reported its vault key as "plaintext" then: its vault key was not protected by a lease, so the lease log cannot bound who could open its vault (the disk encryption above is what protected it).`)
	saysNot(t, "no lease", a, "unreadable", "WAS served")
}

// TestLeaseLongAfterTheLoss: a lease served long after the loss, behind
// more refusals than any page of the log holds, is still stated: "no lease
// was served after the loss" is said only when none was.
func TestLeaseLongAfterTheLoss(t *testing.T) {
	st, _ := servertest.Store(t)
	ctx := context.Background()
	d := newDevice(t, st, "dev-late")
	d.lease(store.LeaseKindEnroll, at(8, 0), "10.0.0.5:5000")
	d.beat(at(13, 0), wire.LeaseUnlocked, wire.OfflineTPM)
	if err := st.MarkLost(ctx, store.LostReport{DeviceID: d.id, LostAt: at(14, 0), DiscoveredAt: at(14, 0), RecordedAt: at(14, 0), By: "it"}); err != nil {
		t.Fatal(err)
	}
	for i := range 1100 {
		reqs := []store.LeaseRequest{{DeviceID: d.id, Kind: store.LeaseKindKey, At: at(14, 1).Add(time.Duration(i) * time.Second),
			Window: 72 * time.Hour, Source: "203.0.113.9:4000", Nonce: wire.NewNonce(), AgentTime: at(14, 1)}}
		if _, err := st.ServeLeases(ctx, reqs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.MarkFound(ctx, store.Found{DeviceID: d.id, At: day.Add(40 * 24 * time.Hour), By: "it", UnlockExpires: day.Add(41 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	late := day.Add(40*24*time.Hour + time.Hour)
	if r := d.lease(store.LeaseKindKey, late, "198.51.100.77:443"); r.Outcome != store.LeaseServed {
		t.Fatalf("after found: %+v", r)
	}
	a := assessed(t, st, d.id, at(14, 0), late.Add(time.Hour))
	says(t, "late", a, "and a lease WAS served after it once, the first at 2027-01-01 01:00 UTC from 198.51.100.77:443",
		"After the loss the server refused 1100 lease requests (lost 1100)")
	saysNot(t, "late", a, "no lease was served after the loss")
}

// TestOfflineCopyKinds: how the offline copy was held is stated for what
// it is: a TPM-sealed copy is bound to the laptop; an OS-held one is only
// as safe as the disk encryption (said with what the device reported); no
// copy is no copy. Each says until when the copy could be used: the last
// lease before the loss plus the offline window recorded with it.
func TestOfflineCopyKinds(t *testing.T) {
	st, _ := servertest.Store(t)
	for _, c := range []struct {
		id, held, disk string
		want, not      []string
	}{
		{"dev-tpm", wire.OfflineTPM, "pass",
			[]string{"offline copy (sealed to its TPM, so it cannot be used on another computer) was still valid at the loss and could be used until 2026-11-25 13:12 UTC: the last lease before the loss plus the offline window of 3 days recorded with it"},
			[]string{"only as safe as the disk encryption", "held by the operating system"}},
		{"dev-os-plain", wire.OfflineOS, "fail",
			[]string{"only as safe as the disk encryption (the device reported full-disk encryption OFF at the loss, so anyone who could read the laptop's disk could take it)",
				"could be used until 2026-11-25 13:12 UTC"},
			[]string{"TPM, so it cannot"}},
		{"dev-none", wire.OfflineNone, "pass",
			[]string{"the laptop kept no offline copy of the lease"},
			[]string{"offline copy (", "only as safe as the disk encryption"}},
	} {
		d := newDevice(t, st, c.id)
		d.lease(store.LeaseKindEnroll, at(8, 0), "10.0.0.5:5000")
		d.lease(store.LeaseKindRenew, at(13, 12), "10.0.0.5:5000")
		d.seq++
		body := []byte(c.id)
		sum := sha256.Sum256(body)
		if _, err := st.Ingest(context.Background(), []store.Heartbeat{{DeviceID: c.id, Seq: 1, Hash: sum[:], Body: body,
			State: store.State{Seq: 1, Hash: sum[:], SentAt: at(13, 30), ReceivedAt: at(13, 30), DiskEncryption: c.disk,
				Lease: wire.LeaseUnlocked, OfflineCopy: c.held}}}); err != nil {
			t.Fatal(err)
		}
		a := assessed(t, st, c.id, at(14, 0), at(15, 0))
		says(t, c.id, a, c.want...)
		saysNot(t, c.id, a, c.not...)
	}
}

// TestWipeFailed: a wipe the agent acknowledged failed destroys the
// server's keys all the same, but the laptop was not wiped: the
// assessment says so, with the agent's reason, and does not say its files
// open only with the escrow keys.
func TestWipeFailed(t *testing.T) {
	st, _ := servertest.Store(t)
	ctx := context.Background()
	d := newDevice(t, st, "dev-wipe-failed")
	d.lease(store.LeaseKindEnroll, at(8, 0), "10.0.0.5:5000")
	d.beat(at(13, 0), wire.LeaseUnlocked, wire.OfflineTPM)
	d.lease(store.LeaseKindRenew, at(13, 12), "10.0.0.5:5000")
	if err := st.MarkLost(ctx, store.LostReport{DeviceID: d.id, LostAt: at(14, 0), DiscoveredAt: at(14, 30), RecordedAt: at(14, 30), By: "it"}); err != nil {
		t.Fatal(err)
	}
	w, err := st.RequestCommand(ctx, store.Command{DeviceID: d.id, Type: wire.CommandWipe, RequestedAt: at(14, 31), RequestedBy: "it"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeliverCommands(ctx, d.id, at(15, 0), 10); err != nil {
		t.Fatal(err)
	}
	d.beat(at(15, 1), wire.LeaseLocked, wire.OfflineTPM, store.CommandAck{ID: w.ID, Type: wire.CommandWipe, Result: wire.AckFailed, Reason: "the cache folder could not be removed: permission denied", At: at(15, 1)})
	a := assessed(t, st, d.id, at(14, 0), at(16, 0))
	says(t, "wipe failed", a,
		"The server destroyed the device's lease keys at 2026-11-22 15:01 UTC: it holds no copy of the device's vault key and can no longer serve it, "+
			"but the wipe FAILED (the agent said at 2026-11-22 15:01 UTC: the cache folder could not be removed: permission denied): "+
			"the laptop was not wiped, and whatever it kept (above) may still be there.")
	saysNot(t, "wipe failed", a, "escrow", "unreadable", "acknowledged the wipe done")
}
