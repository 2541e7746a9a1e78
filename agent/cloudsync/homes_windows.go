package cloudsync

import (
	"errors"
	"path/filepath"
)

// Homes returns the user home folders on this machine: the profiles of
// people's accounts (local, Active Directory and Entra ID) in the
// registry's ProfileList, and, if that cannot be read, the folders in
// %SystemDrive%\Users except Public, Default, Default User and All Users;
// those that exist, sorted.
func Homes() ([]string, error) {
	homes, err := profileHomes(systemRegistry(), systemDrive())
	if err == nil || len(homes) > 0 {
		return existingHomes(homes), err
	}
	dir, derr := usersDirHomes(filepath.Join(systemDrive()+`\`, "Users"),
		[]string{"Public", "Default", "Default User", "All Users"})
	return existingHomes(dir), errors.Join(err, derr)
}
