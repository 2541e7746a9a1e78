package outside_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/outside"
	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/agent/storage/storagetest"
	"github.com/casekeep/casekeep/internal/wire"
)

const blockPolicy = `storage:
  removable_media: {action: block}
  sweep: {action: audit, folders: []}
`

// An approved and an unapproved stick arrive beside the system disk: each
// stick is reported once, with its media ids, the unapproved one as
// notable; the system disk is not reported; nothing is blocked under an
// audit policy. The stick that leaves is reported gone.
func TestApprovedAndUnapprovedVolumes(t *testing.T) {
	e := newEnv(t)
	e.run(e.policy(1, `storage:
  removable_media:
    action: audit
    allow: [{vendor_id: "0781", product_id: "5581", serial: "GOOD*", description: Council stick}]
  sweep: {action: audit, folders: []}
`))
	bad, good := stick(t, "STICK"), stick(t, "GOODSTICK")
	sys := storage.Volume{MountPoint: "/", Device: "/dev/nvme0n1p2", Filesystem: "ext4", Bus: storage.BusNVMe}
	e.src.Set(t, sys, usb(bad, "BAD01"), usb(good, "GOOD42"))

	ue := e.waitEvent(wire.EventVolumeUnapproved, 1)
	if want := `usb 0781:5581 serial "BAD01" label "STICK" vfat (SanDisk Cruzer)`; len(ue) != 1 || ue[0].Detail != want {
		t.Errorf("unapproved events %+v, want one with detail %q", ue, want)
	}
	ae := e.waitEvent(wire.EventVolumeApproved, 1)
	if want := `usb 0781:5581 serial "GOOD42" label "STICK" vfat (SanDisk Cruzer) allowed as "Council stick"`; len(ae) != 1 || ae[0].Detail != want {
		t.Errorf("approved events %+v, want one with detail %q", ae, want)
	}
	vs := e.waitVolume(bad)
	if vs.Approved || vs.Action != "reported to IT security" || vs.Problem != "" {
		t.Errorf("unapproved stick %+v", vs)
	}
	st := e.waitStatus("three volumes", func(s outside.Status) bool { return len(s.Volumes) == 3 })
	if !slices.IsSortedFunc(st.Volumes, func(x, y outside.VolumeStatus) int { return strings.Compare(x.MountPoint, y.MountPoint) }) {
		t.Errorf("volumes %+v, want them by mount point", st.Volumes)
	}
	for _, v := range st.Volumes {
		if v.MountPoint == good && (!v.Approved || v.ApprovedAs != "Council stick" || v.Action != "") {
			t.Errorf("approved stick %+v", v)
		}
	}
	if got, want := e.w.Summary(), (wire.Storage{Volumes: 2, Unapproved: 1}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	if n := e.notables(); n != 1 {
		t.Errorf("%d notable calls, want 1 (the unapproved stick)", n)
	}
	if told := e.told(); !strings.Contains(told, "USB drive STICK is not approved by your council. Do not copy case files to it.") {
		t.Errorf("notifications %q", told)
	}
	if b := e.src.Blocks(); len(b) != 0 {
		t.Errorf("blocked %+v under an audit policy", b)
	}

	e.src.Set(t, sys, usb(good, "GOOD42"))
	re := e.waitEvent(wire.EventVolumeRemoved, 1)
	if len(re) != 1 || !strings.Contains(re[0].Detail, `serial "BAD01"`) {
		t.Errorf("removed events %+v", re)
	}
	e.waitStatus("the bad stick gone", func(s outside.Status) bool { return len(s.Volumes) == 2 })
	if got, want := e.w.Summary(), (wire.Storage{Volumes: 1}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	settle()
	if n := len(e.eventsOf(wire.EventVolumeUnapproved)) + len(e.eventsOf(wire.EventVolumeApproved)); n != 2 {
		t.Errorf("%d arrival events, want 2", n)
	}
}

// A block that works: the volume is blocked once, reported blocked, and
// its files are reported (not acted on: it is read-only).
func TestBlock(t *testing.T) {
	e := newEnv(t)
	e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	e.src.Set(t, usb(mp, "S1"))
	if b := e.src.WaitBlocks(t, 1); b[0] != usb(mp, "S1") {
		t.Errorf("blocked %+v", b)
	}
	be := e.waitEvent(wire.EventVolumeBlocked, 1)
	if want := `usb 0781:5581 serial "S1" label "STICK" vfat (SanDisk Cruzer)`; be[0].Detail != want {
		t.Errorf("blocked event %+v, want detail %q", be[0], want)
	}
	if vs := e.waitVolume(mp); vs.Action != "made read-only: nothing can be copied to it" || vs.Problem != "" {
		t.Errorf("status %+v", vs)
	}
	if told := e.told(); !strings.Contains(told, "USB drive blocked: USB drive STICK is not approved by your council: it was made read-only.") {
		t.Errorf("notifications %q", told)
	}
	settle()
	if n := len(e.src.Blocks()); n != 1 {
		t.Errorf("%d blocks, want 1", n)
	}
	if n := len(e.eventsOf(wire.EventBlockFailed)); n != 0 {
		t.Errorf("%d block_failed events", n)
	}
}

// A block deferred until the volume is next plugged in (Windows, with
// files open on it) is reported as a block, and not tried again.
func TestBlockDeferred(t *testing.T) {
	e := newEnv(t)
	e.src.ScriptBlock(fmt.Errorf("%w: E: is in use", storage.ErrBlockDeferred))
	e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	e.src.Set(t, usb(mp, "S1"))
	be := e.waitEvent(wire.EventVolumeBlocked, 1)
	if !strings.HasSuffix(be[0].Detail, `serial "S1" label "STICK" vfat (SanDisk Cruzer) (deferred: storage: the volume becomes read-only when it is next mounted: E: is in use)`) {
		t.Errorf("blocked event %+v", be[0])
	}
	if vs := e.waitVolume(mp); vs.Action != "will be read-only from the next time it is plugged in (it is in use now)" || vs.Problem != "" {
		t.Errorf("status %+v", vs)
	}
	if told := e.told(); !strings.Contains(told, "It will be read-only once plugged in again.") {
		t.Errorf("notifications %q", told)
	}
	settle()
	if n := len(e.src.Blocks()); n != 1 {
		t.Errorf("%d blocks, want 1", n)
	}
}

// A volume this system cannot block is reported as such, once, and not
// tried again.
func TestBlockUnsupported(t *testing.T) {
	e := newEnv(t)
	e.src.ScriptBlock(fmt.Errorf("%w: %q is not a disk device", storage.ErrBlockUnsupported, "/dev/sdz1"))
	e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	e.src.Set(t, usb(mp, "S1"))
	fe := e.waitEvent(wire.EventBlockFailed, 1)
	problem := `this system cannot block it: storage: cannot make this volume read-only here: "/dev/sdz1" is not a disk device`
	if !strings.HasSuffix(fe[0].Detail, `(SanDisk Cruzer): `+problem) {
		t.Errorf("block_failed event %+v", fe[0])
	}
	if vs := e.waitVolume(mp); vs.Action != "should be made read-only, but could not be" || vs.Problem != problem {
		t.Errorf("status %+v", vs)
	}
	settle()
	if n := len(e.src.Blocks()); n != 1 {
		t.Errorf("%d blocks, want 1 (unsupported is not retried)", n)
	}
	if n := len(e.eventsOf(wire.EventBlockFailed)); n != 1 {
		t.Errorf("%d block_failed events, want 1", n)
	}
	if n := len(e.eventsOf(wire.EventVolumeBlocked)); n != 0 {
		t.Errorf("%d volume_blocked events", n)
	}
}

// A block that fails is tried again after 1, 2, 3 and 4 retry intervals,
// five tries in all; each failure is reported. A volume that never blocks
// stays reported as not blocked.
func TestBlockFailureRetried(t *testing.T) {
	e := newEnv(t)
	busy := errors.New("device or resource busy")
	e.src.ScriptBlock(busy, busy, busy, busy, busy) // a sixth would succeed
	e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	e.src.Set(t, usb(mp, "S1"))
	fe := e.waitEvent(wire.EventBlockFailed, 5)
	for i, ev := range fe {
		if !strings.HasSuffix(ev.Detail, ": device or resource busy") {
			t.Errorf("failure %d: %+v", i, ev)
		}
		if i > 0 {
			if gap := ev.Time.Sub(fe[i-1].Time); gap < time.Duration(i)*retry {
				t.Errorf("try %d came %s after the one before, want at least %s", i+1, gap, time.Duration(i)*retry)
			}
		}
	}
	settle()
	if n := len(e.src.Blocks()); n != 5 {
		t.Errorf("%d blocks, want 5", n)
	}
	if n := len(e.eventsOf(wire.EventBlockFailed)); n != 5 {
		t.Errorf("%d block_failed events, want 5", n)
	}
	if n := len(e.eventsOf(wire.EventVolumeBlocked)); n != 0 {
		t.Errorf("%d volume_blocked events after five failures", n)
	}
	if vs := e.waitVolume(mp); vs.Action != "should be made read-only, but could not be" || vs.Problem != "device or resource busy" {
		t.Errorf("status %+v", vs)
	}
}

// A block that fails twice and then works: the volume ends blocked.
func TestBlockRetryWorks(t *testing.T) {
	e := newEnv(t)
	busy := errors.New("device or resource busy")
	e.src.ScriptBlock(busy, busy)
	e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	e.src.Set(t, usb(mp, "S1"))
	e.waitEvent(wire.EventVolumeBlocked, 1)
	e.waitStatus("blocked", func(s outside.Status) bool {
		return len(s.Volumes) == 1 && s.Volumes[0].Action == "made read-only: nothing can be copied to it" && s.Volumes[0].Problem == ""
	})
	settle()
	if n, f := len(e.src.Blocks()), len(e.eventsOf(wire.EventBlockFailed)); n != 3 || f != 2 {
		t.Errorf("%d blocks and %d failures, want 3 and 2", n, f)
	}
}

// A block that hangs (a stalled filesystem) counts as failed after the
// timeout, and is tried again; other volumes are handled meanwhile.
func TestBlockHangs(t *testing.T) {
	e := newEnv(t)
	e.src.ScriptBlock(storagetest.Hang)
	e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	e.src.Set(t, usb(mp, "S1"))
	fe := e.waitEvent(wire.EventBlockFailed, 1)
	if !strings.HasSuffix(fe[0].Detail, ": making it read-only took longer than "+timeout.String()) {
		t.Errorf("block_failed event %+v", fe[0])
	}
	// The retry is not stuck behind the hung call, nor is another volume.
	other := stick(t, "OTHER")
	e.src.Set(t, usb(mp, "S1"), storage.Volume{MountPoint: other, Device: "/dev/sdy1", Removable: true, Bus: storage.BusUSB, Label: "OTHER"})
	e.waitEvent(wire.EventVolumeBlocked, 2)
	if n := len(e.src.Blocks()); n != 3 {
		t.Errorf("%d blocks, want 3 (the hung one, its retry, the other volume)", n)
	}
	if vs := e.waitVolume(mp); vs.Action != "made read-only: nothing can be copied to it" {
		t.Errorf("status %+v", vs)
	}
}

// A blocked volume that someone makes writable again is blocked again; one
// that stays read-only is left alone.
func TestReblockWhenWritableAgain(t *testing.T) {
	e := newEnv(t)
	e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	v := usb(mp, "S1")
	e.src.Set(t, v)
	e.waitEvent(wire.EventVolumeBlocked, 1)
	e.waitVolume(mp)

	ro := v
	ro.ReadOnly = true
	e.src.Set(t, ro)
	e.waitStatus("read-only", func(s outside.Status) bool { return len(s.Volumes) == 1 && s.Volumes[0].ReadOnly })
	settle()
	if n := len(e.src.Blocks()); n != 1 {
		t.Fatalf("%d blocks of a volume made read-only, want 1", n)
	}

	e.src.Set(t, v) // remounted writable
	if b := e.src.WaitBlocks(t, 2); b[1] != v {
		t.Errorf("blocked again %+v", b[1])
	}
	e.waitEvent(wire.EventVolumeBlocked, 2)
	settle()
	if n := len(e.eventsOf(wire.EventVolumeUnapproved)); n != 1 {
		t.Errorf("%d unapproved events, want 1", n)
	}
}

// After a policy change the new monitor lists every volume again: a volume
// already reported is not reported again, and what was done stands if the
// new policy decides the same; if it decides otherwise, the new action is
// taken, still without reporting the volume again.
func TestPolicyChangeDoesNotReportAgain(t *testing.T) {
	e := newEnv(t)
	stop := e.run(e.policy(1, blockPolicy))
	mp := stick(t, "STICK")
	e.src.Set(t, usb(mp, "S1"))
	e.waitEvent(wire.EventVolumeBlocked, 1)
	e.waitVolume(mp)
	stop()

	// The same action: nothing more is done.
	stop = e.run(e.policy(2, blockPolicy))
	e.src.Sync(t)
	if vs := e.waitVolume(mp); vs.Action != "made read-only: nothing can be copied to it" {
		t.Errorf("status after the same policy %+v", vs)
	}
	settle()
	if n := len(e.src.Blocks()); n != 1 {
		t.Errorf("%d blocks, want 1", n)
	}
	stop()

	// Another action: taken, and the volume still reported once.
	e.run(e.policy(3, `storage:
  removable_media: {action: audit}
  sweep: {action: audit, folders: []}
`))
	e.src.Sync(t)
	e.waitStatus("audited", func(s outside.Status) bool {
		return len(s.Volumes) == 1 && s.Volumes[0].Action == "reported to IT security"
	})
	settle()
	if n := len(e.eventsOf(wire.EventVolumeUnapproved)); n != 1 {
		t.Errorf("%d unapproved events, want 1", n)
	}
	if n, b := len(e.src.Blocks()), len(e.eventsOf(wire.EventVolumeBlocked)); n != 1 || b != 1 {
		t.Errorf("%d blocks and %d blocked events, want 1 and 1", n, b)
	}
	if st := e.w.Status(); len(st.SweepFolders) != 1 || st.SweepFolders[0] != mp {
		t.Errorf("swept %q, want the stick", st.SweepFolders)
	}
}

// The system's root and a relative mount point are never acted on or
// swept, though an unapproved volume there is reported.
func TestRootNeverBlocked(t *testing.T) {
	e := newEnv(t)
	e.run(e.policy(1, blockPolicy))
	root := usb("/", "R1")
	rel := usb(filepath.Join("relative", "STICK"), "R2")
	rel.Device = "/dev/sdy1"
	e.src.Set(t, root, rel)
	e.waitEvent(wire.EventVolumeUnapproved, 2)
	settle()
	if b := e.src.Blocks(); len(b) != 0 {
		t.Errorf("blocked %+v", b)
	}
	if st := e.w.Status(); len(st.SweepFolders) != 0 {
		t.Errorf("swept %q", st.SweepFolders)
	}
}
