package installer

import (
	"fmt"
	"io/fs"

	"golang.org/x/sys/windows"

	"github.com/casekeep/casekeep/agent/state"
)

// Protected ACLs (nothing inherited from ProgramData, where users may
// create files): SYSTEM and Administrators have full control; Users may list
// the folder (and read subfolders), but not read the files in it.
const (
	configSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;CI;0x1200a9;;;BU)"
	secretSDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"
)

// protectConfig refuses a folder a user made (its owner could change the
// ACL back), and protects the ACL of one SYSTEM or Administrators own.
func protectConfig(dir string, fi fs.FileInfo) error {
	if err := checkOwner(dir, fi); err != nil {
		return fmt.Errorf("configuration folder %s: %w (delete it and reinstall)", dir, err)
	}
	return setACL(dir, configSDDL)
}

// checkOwner refuses a file or folder not owned by SYSTEM or
// Administrators.
func checkOwner(path string, _ fs.FileInfo) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading its owner: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("it has no owner: %w", ErrNotProtected)
	}
	if owner.IsWellKnown(windows.WinLocalSystemSid) || owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
		return nil
	}
	return fmt.Errorf("it belongs to %s: %w", owner.String(), ErrNotProtected)
}

func protectSecret(path string) error { return setACL(path, secretSDDL) }

func setACL(path, sddl string) error {
	if err := state.SetProtectedACL(path, sddl); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
