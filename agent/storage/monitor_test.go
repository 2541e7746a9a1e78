package storage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/agent/storage/storagetest"
)

var (
	sysDisk = storage.Volume{MountPoint: "/", Device: "/dev/nvme0n1p2", Filesystem: "ext4", Bus: storage.BusNVMe}
	stickA  = storage.Volume{MountPoint: "/media/anna/STICK", Device: "/dev/sdb1", Filesystem: "vfat", Removable: true, Bus: storage.BusUSB, VendorID: "0781", ProductID: "5581", Serial: "A1"}
	stickB  = storage.Volume{MountPoint: "/media/anna/OTHER", Device: "/dev/sdc1", Filesystem: "exfat", Removable: true, Bus: storage.BusUSB, VendorID: "090c", ProductID: "1000", Serial: "B2"}
	// marker sorts after every other mount point: once its arrival is
	// taken, every change before it has been taken too.
	marker = storage.Volume{MountPoint: "/~marker", Device: "/dev/marker"}
)

func kinds(cs ...storage.Change) string {
	s := ""
	for _, c := range cs {
		s += fmt.Sprintf("%v %s; ", c.Kind, c.Volume.MountPoint)
	}
	return s
}

func expect(t *testing.T, m *storage.Monitor, want ...storage.Change) {
	t.Helper()
	var got []storage.Change
	for range want {
		got = append(got, next(t, m))
	}
	for i := range got {
		if got[i].Kind != want[i].Kind || got[i].Volume != want[i].Volume {
			t.Fatalf("changes:\n got %s\nwant %s", kinds(got...), kinds(want...))
		}
		if got[i].Time.IsZero() {
			t.Errorf("change %d has no time", i)
		}
	}
}

func TestMonitorReportsPresentVolumesThenChanges(t *testing.T) {
	src := storagetest.New(true, stickA, sysDisk)
	m := storage.NewMonitor(storage.Options{Source: src, Interval: time.Hour})
	runMonitor(t, m)
	expect(t, m,
		storage.Change{Kind: storage.Arrived, Volume: sysDisk},
		storage.Change{Kind: storage.Arrived, Volume: stickA})
	if got := m.Volumes(); !reflect.DeepEqual(got, []storage.Volume{sysDisk, stickA}) {
		t.Errorf("Volumes = %v", got)
	}

	src.Set(t, sysDisk, stickA, stickB)
	expect(t, m, storage.Change{Kind: storage.Arrived, Volume: stickB})

	src.Set(t, sysDisk, stickB)
	expect(t, m, storage.Change{Kind: storage.Left, Volume: stickA})
	if got := m.Volumes(); !reflect.DeepEqual(got, []storage.Volume{sysDisk, stickB}) {
		t.Errorf("Volumes = %v", got)
	}

	// Remounted read-only: same device at the same place.
	roB := stickB
	roB.ReadOnly = true
	src.Set(t, sysDisk, roB)
	expect(t, m, storage.Change{Kind: storage.Changed, Volume: roB})

	// Another device at the same mount point: one left, another arrived.
	swapped := roB
	swapped.Device = "/dev/sdd1"
	src.Set(t, sysDisk, swapped)
	expect(t, m,
		storage.Change{Kind: storage.Left, Volume: roB},
		storage.Change{Kind: storage.Arrived, Volume: swapped})
}

func TestMonitorPollsWithoutNotifications(t *testing.T) {
	src := storagetest.New(false, sysDisk)
	m := storage.NewMonitor(storage.Options{Source: src, Interval: 5 * time.Millisecond})
	runMonitor(t, m)
	expect(t, m, storage.Change{Kind: storage.Arrived, Volume: sysDisk})
	src.Set(t, sysDisk, stickA)
	expect(t, m, storage.Change{Kind: storage.Arrived, Volume: stickA})
}

// A listing that fails keeps the last good listing: nothing is reported
// as having left.
func TestMonitorKeepsLastListingOnError(t *testing.T) {
	src := storagetest.New(true, sysDisk, stickA)
	m := storage.NewMonitor(storage.Options{Source: src, Interval: time.Hour})
	runMonitor(t, m)
	expect(t, m,
		storage.Change{Kind: storage.Arrived, Volume: sysDisk},
		storage.Change{Kind: storage.Arrived, Volume: stickA})

	src.SetErr(t, errors.New("mountinfo: input/output error"))
	if got := m.Volumes(); !reflect.DeepEqual(got, []storage.Volume{sysDisk, stickA}) {
		t.Errorf("after a failed listing Volumes = %v", got)
	}
	src.Set(t, sysDisk, stickA, marker) // and listing works again
	expect(t, m, storage.Change{Kind: storage.Arrived, Volume: marker})
}

// A consumer that does not keep up loses nothing it needs: once it reads
// again it is told the difference between what it knew and what is there.
func TestMonitorCoalescesForSlowConsumer(t *testing.T) {
	var many []storage.Volume
	for i := range storage.ChangesBuffer + 36 {
		many = append(many, storage.Volume{MountPoint: fmt.Sprintf("/media/v%03d", i), Device: fmt.Sprintf("/dev/v%03d", i)})
	}
	src := storagetest.New(true, many...)
	m := storage.NewMonitor(storage.Options{Source: src, Interval: time.Hour})
	runMonitor(t, m)
	// Nobody reads. The first volumes fill the buffer; then the last ones
	// leave (never told, so never reported), one of the first leaves, and
	// one arrives. None of this may block the monitor.
	now := append([]storage.Volume(nil), many[:storage.ChangesBuffer+10]...)
	now = slices.Delete(now, 3, 4)
	now = append(now, stickA)
	src.Set(t, now...)
	src.Set(t, append(now, marker)...)

	known := map[storage.Volume]bool{}
	for {
		c := next(t, m)
		switch c.Kind {
		case storage.Arrived:
			if known[c.Volume] {
				t.Fatalf("%s arrived twice", c.Volume.MountPoint)
			}
			known[c.Volume] = true
		case storage.Left:
			if !known[c.Volume] {
				t.Fatalf("%s left without arriving", c.Volume.MountPoint)
			}
			delete(known, c.Volume)
		default:
			t.Fatalf("unexpected %v", c.Kind)
		}
		if c.Volume == marker {
			break
		}
	}
	want := append(now, marker)
	if len(known) != len(want) {
		t.Fatalf("replaying the changes gives %d volumes, want %d", len(known), len(want))
	}
	for _, v := range want {
		if !known[v] {
			t.Errorf("replaying the changes misses %s", v.MountPoint)
		}
	}
}

func TestMonitorRunOnceAndCloses(t *testing.T) {
	src := storagetest.New(true, sysDisk)
	m := storage.NewMonitor(storage.Options{Source: src, Interval: time.Hour})
	cancel := runMonitor(t, m)
	expect(t, m, storage.Change{Kind: storage.Arrived, Volume: sysDisk})
	if err := m.Run(context.Background()); !errors.Is(err, storage.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if err := cancel(); err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
	select {
	case _, ok := <-m.Changes():
		if ok {
			t.Error("a change after Run returned")
		}
	case <-time.After(eventually):
		t.Error("Changes not closed after Run returned")
	}
}

// Run returns promptly when cancelled even while the consumer has
// stopped reading and the buffer is full.
func TestMonitorStopsWithFullBuffer(t *testing.T) {
	var many []storage.Volume
	for i := range storage.ChangesBuffer * 2 {
		many = append(many, storage.Volume{MountPoint: fmt.Sprintf("/m/%d", i), Device: fmt.Sprint(i)})
	}
	src := storagetest.New(true, many...)
	m := storage.NewMonitor(storage.Options{Source: src, Interval: time.Millisecond})
	cancel := runMonitor(t, m)
	deadline := time.Now().Add(eventually)
	for len(m.Changes()) < storage.ChangesBuffer {
		if time.Now().After(deadline) {
			t.Fatalf("the buffer never filled: %d changes", len(m.Changes()))
		}
		time.Sleep(time.Millisecond)
	}
	src.Sync(t) // the monitor goes on listing with the buffer full
	if err := cancel(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range m.Changes() {
		n++
	}
	if n != storage.ChangesBuffer {
		t.Errorf("%d changes left in the channel, want a full buffer of %d", n, storage.ChangesBuffer)
	}
}
