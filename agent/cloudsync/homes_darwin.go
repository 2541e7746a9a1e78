package cloudsync

// Homes returns the user home folders on this machine: the folders in
// /Users, except Shared and Deleted Users, sorted. Accounts whose home is
// elsewhere (set with dscl) are not found.
func Homes() ([]string, error) {
	homes, err := usersDirHomes("/Users", []string{"Shared", "Deleted Users"})
	return existingHomes(homes), err
}
