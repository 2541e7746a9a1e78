package keys

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
)

// keyFiles are the names of the files a Keyring makes in the state folder
// that hold key material, on any OS: the wrapped identity, the plaintext
// one of an older agent, and every form of the offline copy (the TPM's,
// the root-only file's, DPAPI's). A state folder restored from another
// computer may hold another OS's, so all are listed everywhere.
var keyFiles = []string{
	WrappedName,
	FileName,
	offlinePrefix + "tpm",
	offlinePrefix + "os",
	offlinePrefix + "dpapi",
}

// ShredDir crypto-shreds the device identity in the state folder dir for
// the device deviceID whether or not it opens (a wrapped file damaged,
// none made yet, a crash part way through making it): it writes the shred
// marker, then destroys every offline copy of the lease (its files, and
// the System keychain's item on macOS), the wrapped identity, a
// plaintext one, the floor of trusted time, the recipients' pin, and the temporary files a
// crash left of any of them (".NAME.NNN.casekeep-tmp"). Only what the
// keyring makes is removed: regular files of exactly those names in dir
// itself. A link, a folder, or any other file is left alone (and a link is
// never followed). It is idempotent; [Open] then returns [ErrWiped].
// Prefer [Keyring.Shred] on a Keyring that is open: it forgets the keys in
// memory too.
func ShredDir(dir, deviceID string) error {
	if !wire.ValidDeviceID(deviceID) {
		return fmt.Errorf("keys: %q is not a device ID", deviceID)
	}
	k := &Keyring{dir: dir, deviceID: deviceID, protectors: defaultProtectors(dir), now: time.Now}
	return k.Shred()
}

// shredFiles removes every file of the keyring but the marker: each
// protector's copy, then the key files and their temporary files.
func (k *Keyring) shredFiles() error {
	var errs []error
	for _, p := range k.protectors {
		errs = append(errs, p.remove())
		step("shred-offline")
	}
	for _, name := range keyFiles[2:] {
		errs = append(errs, removeOurs(k.dir, name))
	}
	errs = append(errs, removeOurs(k.dir, FileName))
	step("shred-plaintext")
	errs = append(errs, removeOurs(k.dir, WrappedName))
	step("shred-wrapped")
	errs = append(errs, removeOurs(k.dir, ClockFloorName), removeOurs(k.dir, PinName))
	errs = append(errs, removeTemps(k.dir))
	return errors.Join(errs...)
}

// removeOurs removes dir/name if it is a regular file, overwriting it in
// place with zeros first (atomicfile.OverwriteRemove: best-effort, since
// on an SSD or a copy-on-write filesystem the old blocks may survive the
// overwrite), as every file of the keyring's holds key material or is
// made next to it. Missing is no error, and anything else of that name
// (a link, a folder: the keyring makes none) is left alone: it is not the
// keyring's, and holds no key.
func removeOurs(dir, name string) error {
	path := filepath.Join(dir, name)
	fi, err := os.Lstat(path)
	switch {
	case isNotExist(err):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return nil
	}
	return atomicfile.OverwriteRemove(path)
}

// ownTemp reports whether name is the name of a temporary file package
// atomicfile makes (".NAME.NNN.casekeep-tmp", NNN its random digits) for
// one of the keyring's files NAME.
func ownTemp(name string) bool {
	rest, ok := strings.CutSuffix(name, atomicfile.TempSuffix)
	if !ok || !strings.HasPrefix(rest, ".") {
		return false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot <= 0 || dot == len(rest)-1 || strings.Trim(rest[dot+1:], "0123456789") != "" {
		return false
	}
	base := rest[1:dot]
	for _, ours := range append(keyFiles[:len(keyFiles):len(keyFiles)], ShreddedName, ClockFloorName, PinName) {
		if base == ours {
			return true
		}
	}
	return false
}

// removeTemps removes what a crash left of the keyring's atomic writes in
// dir: temporary files that may hold key material (the wrapped identity's,
// the plaintext one's, the offline copy's). Only regular files whose name
// is exactly such a temporary file's are removed.
func removeTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !ownTemp(e.Name()) {
			continue
		}
		if err := removeOurs(dir, e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
