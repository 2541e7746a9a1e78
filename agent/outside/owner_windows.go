package outside

// sameOwner is not checked on Windows (owners there are security
// descriptors; the profile a folder is in is what counts): a folder strictly
// inside the home that named it is taken to be that user's.
func sameOwner(a, b string) bool { return true }
