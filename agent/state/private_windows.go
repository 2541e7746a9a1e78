package state

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// makePrivate gives dir a protected ACL (no inheritance from its parent):
// full control for SYSTEM, Administrators and the user running the agent,
// inherited by everything inside it. A folder someone else owns is refused,
// as on Unix: its owner could change the ACL back and read the keys (in
// ProgramData, users may create folders).
func makePrivate(dir string, _ fs.FileInfo) error {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("state folder %s: reading the process user: %w", dir, err)
	}
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("state folder %s: reading its owner: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("state folder %s has no owner: refusing it", dir)
	}
	if !owner.Equals(tu.User.Sid) && !owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) && !owner.IsWellKnown(windows.WinLocalSystemSid) {
		return fmt.Errorf("state folder %s is owned by %s, not by this user or Administrators: refusing it, since its owner could read the device keys (delete it)", dir, owner.String())
	}
	sddl := fmt.Sprintf("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;%s)", tu.User.Sid.String())
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
