package testdisk

import (
	"testing"

	"github.com/casekeep/casekeep/internal/testenv"
)

// Small returns the path of an empty folder on a fresh filesystem that holds
// at most size bytes, unmounted when the test ends.
func Small(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := mount(dir, size); err != nil {
		testenv.Unavailable(t, "cannot mount a small tmpfs for a disk-full test: %v (run as root on Linux)", err)
	}
	t.Cleanup(func() {
		if err := unmount(dir); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
