package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// makePrivate gives dir a protected ACL (no inheritance from its parent):
// full control for SYSTEM, Administrators and the user running the agent,
// inherited by everything inside it. A folder someone else owns is refused,
// as on Unix: its owner could change the ACL back and read the keys (in
// ProgramData, users may create folders).
func makePrivate(dir string, fi fs.FileInfo) error {
	me, err := fileowner.Current()
	if err != nil {
		return fmt.Errorf("state folder %s: %w", dir, err)
	}
	o, err := fileowner.Of(dir, fi)
	if errors.Is(err, fileowner.ErrNoOwner) {
		return fmt.Errorf("state folder %s has no owner: refusing it", dir)
	}
	if err != nil {
		return fmt.Errorf("state folder %s: reading its owner: %w", dir, err)
	}
	if !o.Equal(me) && !o.IsSystem() {
		return fmt.Errorf("state folder %s is owned by %s, not by this user or Administrators: refusing it, since its owner could read the device keys (delete it)", dir, o)
	}
	sddl := fmt.Sprintf("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;%s)", me)
	if err := SetProtectedACL(dir, sddl); err != nil {
		return fmt.Errorf("state folder %s: %w", dir, err)
	}
	return nil
}

// SetProtectedACL gives path the access list of the SDDL string sddl,
// protected from inheriting its parent's (Windows only).
func SetProtectedACL(path, sddl string) error {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("setting its ACL: %w", err)
	}
	return nil
}

func lockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
}
