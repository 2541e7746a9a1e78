package installer

import (
	"os"
	"path/filepath"
	"testing"
)

// nearestExisting picks what the systemd drop-in makes writable: the
// folder itself, or its nearest existing parent inside a home, and never
// anything reached through a symlink a user made.
func TestNearestExisting(t *testing.T) {
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func(r []string) { protectedRoots = r }(protectedRoots)
	protectedRoots = []string{home}
	os.MkdirAll(filepath.Join(home, "alice", "Downloads"), 0o755)
	os.MkdirAll(filepath.Join(home, "alice", ".local"), 0o755)
	os.Symlink("/etc", filepath.Join(home, "alice", "Documents"))
	for in, want := range map[string]string{
		filepath.Join(home, "alice", "Downloads"):                            filepath.Join(home, "alice", "Downloads"),
		filepath.Join(home, "alice", ".local", "share", "casekeep", "cache"): filepath.Join(home, "alice", ".local"),
		filepath.Join(home, "alice", "Documents"):                            "", // a symlink to /etc
		filepath.Join(home, "alice", "Documents", "cases"):                   "",
		"/etc/casekeep": "", // not in a home
	} {
		if got := nearestExisting(in); got != want {
			t.Errorf("nearestExisting(%s) = %q, want %q", in, got, want)
		}
	}
}
