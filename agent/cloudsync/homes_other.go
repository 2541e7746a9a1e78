//go:build !linux && !darwin && !windows

package cloudsync

import "os"

// Homes returns the homes in /etc/passwd of root and of the accounts with
// a uid of at least 1000, those that exist, sorted.
func Homes() ([]string, error) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	homes, err := PasswdHomes(f)
	return existingHomes(homes), err
}
