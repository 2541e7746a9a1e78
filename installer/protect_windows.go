package installer

import (
	"fmt"
	"io/fs"

	"github.com/casekeep/casekeep/agent/state"
)

// selfMayOwn: on Windows only SYSTEM or Administrators may own what the
// installer trusts; the user running it, even an administrator, may not.
const selfMayOwn = false

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

func protectSecret(path string) error { return setACL(path, secretSDDL) }

func setACL(path, sddl string) error {
	if err := state.SetProtectedACL(path, sddl); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
