package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

func TestDemoFleet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.db")
	db := "sqlite:" + path
	r := run(t, "demo-fleet", "--db", db, "--devices", "60", "--days", "10").Want(t, 0)
	if !strings.Contains(r.Stdout, "added 60 simulated devices") {
		t.Errorf("stdout %q", r.Stdout)
	}
	// Again: nothing added.
	if r := run(t, "demo-fleet", "--db", db, "--devices", "60").Want(t, 0); !strings.Contains(r.Stdout, "nothing added") {
		t.Errorf("second run: %q", r.Stdout)
	}
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rows, err := st.Devices(ctx)
	if err != nil || len(rows) != 60 {
		t.Fatalf("%d devices, %v", len(rows), err)
	}
	var plaintext, stale, noDisk, shutdown int
	for _, row := range rows {
		if row.Agent.Stopping == wire.StopShutdown {
			shutdown++
		}
		if row.State.PlaintextFiles > 0 {
			plaintext++
		}
		if time.Since(row.State.ReceivedAt) > time.Hour {
			stale++
		}
		if row.State.DiskEncryption == "fail" {
			noDisk++
		}
		if row.State.SealedFiles == 0 || row.State.CaseRefs == 0 {
			t.Errorf("%s holds nothing: %+v", row.ID, row.State)
		}
	}
	if stale == 0 || stale == len(rows) {
		t.Errorf("%d of %d devices not heard from within the hour: want a mix", stale, len(rows))
	}
	// One agent was removed, two stopped without saying so.
	if a := rows[1].Agent; a.Stopping != wire.StopUninstall || a.StoppingAt.IsZero() || time.Since(a.StoppingAt) < time.Hour {
		t.Errorf("%s: agent %+v, want removed hours ago", rows[1].ID, a)
	}
	for i, n := range map[int]int64{2: 2, 3: 3} {
		if a := rows[i].Agent; a.Stopping != "" || a.UnannouncedStops != n || a.LastUnannouncedStop.IsZero() {
			t.Errorf("%s: agent %+v, want %d unannounced stops", rows[i].ID, a, n)
		}
	}
	if shutdown == 0 {
		t.Error("no device shut down before going offline")
	}
	lost, err := st.LostReports(ctx, rows[0].ID)
	if err != nil || len(lost) != 1 {
		t.Errorf("lost reports %v, %v", lost, err)
	}
	t.Logf("%d with plaintext, %d stale, %d without disk encryption", plaintext, stale, noDisk)
	if plaintext == 0 || noDisk == 0 {
		t.Errorf("%d devices hold plaintext and %d have no disk encryption: want some of each", plaintext, noDisk)
	}
	// Unapproved USB sticks and case files swept from Downloads, with their
	// case references; no unannounced stop but the two devices'.
	for typ, want := range map[string]func(store.Event) bool{
		wire.EventVolumeUnapproved:                       func(e store.Event) bool { return strings.HasPrefix(e.Detail, "usb ") },
		wire.PrefixSweep + wire.OutsideQuarantined:       func(e store.Event) bool { return strings.HasPrefix(e.CaseRef, "LL-") },
		wire.EventVaultSealed:                            func(e store.Event) bool { return strings.HasPrefix(e.CaseRef, "LL-") },
		wire.EventUnannouncedStop + " (devices 2 and 3)": func(e store.Event) bool { return e.DeviceID == rows[2].ID || e.DeviceID == rows[3].ID },
	} {
		evs, err := st.SearchEvents(ctx, store.EventFilter{Type: strings.TrimSuffix(typ, " (devices 2 and 3)")})
		if err != nil || len(evs) == 0 {
			t.Errorf("%s events: %d, %v", typ, len(evs), err)
		}
		for _, e := range evs {
			if !want(e) {
				t.Errorf("%s event %+v", typ, e)
			}
		}
	}
	// The lost report and the wipe are in the audit log, as a person's
	// would be (newest first).
	log, err := st.AuditLog(ctx, time.Time{}, time.Now().Add(time.Hour), 0)
	if err != nil || len(log) != 2 || log[1].Action != "device.mark_lost" || log[1].Target != rows[0].ID || log[1].Actor != "demo-fleet" || lost[0].By != "demo-fleet" ||
		log[0].Action != "device.wipe_request" || log[0].Target != rows[0].ID {
		t.Errorf("audit log %+v, %v", log, err)
	}
	// Every device has a lease log: the enrollment, then renewals up to
	// when it was last heard from; the lost one was served after its
	// loss from another address, then refused, its wipe pending.
	copies := map[string]int{}
	for _, row := range rows {
		ls, err := st.Leases(ctx, row.ID, time.Time{}, time.Now().Add(time.Hour), 0)
		if err != nil || len(ls) < 2 || ls[len(ls)-1].Kind != store.LeaseKindEnroll || row.Lease.At.IsZero() || row.Lease.At.After(row.State.ReceivedAt) {
			t.Errorf("%s: %d leases, %v; last served %v, seen %v", row.ID, len(ls), err, row.Lease.At, row.State.ReceivedAt)
		}
		if row.State.Lease != wire.LeaseUnlocked {
			t.Errorf("%s: lease state %q", row.ID, row.State.Lease)
		}
		copies[row.State.OfflineCopy]++
	}
	if copies[wire.OfflineTPM] == 0 || copies[wire.OfflineOS] == 0 {
		t.Errorf("offline copies %v: want TPM and OS ones", copies)
	}
	ls, _ := st.Leases(ctx, rows[0].ID, time.Time{}, time.Now().Add(time.Hour), 0)
	if ls[0].Refused != wire.RefusedWiped || !ls[1].Served() || !strings.HasPrefix(ls[1].Source, "203.0.113.") || strings.HasPrefix(ls[len(ls)-1].Source, "203.0.113.") {
		t.Errorf("the lost device's lease log: %+v", ls[:2])
	}
	cmds, _ := st.Commands(ctx, rows[0].ID)
	if len(cmds) != 1 || cmds[0].Type != wire.CommandWipe || cmds[0].Status(time.Now()) != store.StatusRequested {
		t.Errorf("the lost device's commands: %+v", cmds)
	}
	// A store with a real device is refused.
	if err := st.CreateDevice(ctx, store.Device{ID: "real-1", SigningKey: make([]byte, 32), EnrolledAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	other := "sqlite:" + filepath.Join(t.TempDir(), "real.db")
	st2, _ := sqlite.Open(strings.TrimPrefix(other, "sqlite:"))
	st2.CreateDevice(ctx, store.Device{ID: "real-1", SigningKey: make([]byte, 32), EnrolledAt: time.Now()})
	st2.Close()
	if r := run(t, "demo-fleet", "--db", other).Want(t, 1); !strings.Contains(r.Stderr, "real devices") {
		t.Errorf("stderr %q", r.Stderr)
	}
	run(t, "demo-fleet", "--db", db, "--devices", "0").Want(t, 2)
}
