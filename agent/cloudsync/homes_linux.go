package cloudsync

import (
	"errors"
	"io/fs"
	"os"
)

// Homes returns the user home folders on this machine: the homes in
// /etc/passwd of root and of the accounts with a uid of at least 1000, and
// the folders in /home (which covers network accounts from LDAP or SSSD,
// absent from /etc/passwd), those that exist, sorted.
func Homes() ([]string, error) {
	var errs []error
	var fromPasswd []string
	if f, err := os.Open("/etc/passwd"); err != nil {
		errs = append(errs, err)
	} else {
		fromPasswd, err = PasswdHomes(f)
		f.Close()
		if err != nil {
			errs = append(errs, err)
		}
	}
	fromHome, err := usersDirHomes("/home", []string{"lost+found"})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return existingHomes(fromPasswd, fromHome), errors.Join(errs...)
}
