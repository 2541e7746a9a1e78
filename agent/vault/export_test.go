package vault

import "os"

// SetTestHook sets the hook seal calls at its stages, for the tests in
// package vault_test; nil removes it.
func SetTestHook(f func(stage, rel string)) { testHook = f }

// SetLinkFile replaces the hard-link call (nil restores it).
func SetLinkFile(f func(r *os.Root, oldname, newname string) error) {
	if f == nil {
		f = func(r *os.Root, oldname, newname string) error { return r.Link(oldname, newname) }
	}
	linkFile = f
}

// TempName returns a temporary file name v would make (and removes as its
// own when a crash leaves it).
func TempName(v *Vault) string { return tempName(randomTag(), v.tempKey) }
