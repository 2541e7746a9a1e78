//go:build !unix

package atomicfile

import "io/fs"

// links returns how many names the file fi describes has: not known here
// without another open (on Windows the state folder is SYSTEM's alone),
// so 1.
func links(fs.FileInfo) uint64 { return 1 }
