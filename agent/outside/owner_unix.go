//go:build !windows

package outside

import "github.com/casekeep/casekeep/internal/fileowner"

// sameOwner reports whether the files a and b (not followed if links)
// belong to the same user.
func sameOwner(a, b string) bool { return fileowner.SameOwner(a, b) }
