//go:build !windows

package main

import (
	"fmt"
	"io/fs"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// cacheWritableByOthers says what is wrong with who can write the cache
// folder dir: others or its group able to write it, or an owner who is no
// user of this computer (whoever is next given that uid would own it).
func cacheWritableByOthers(dir string, fi fs.FileInfo) string {
	if who, _ := fileowner.WritableByOthers(dir, fi); who != "" {
		return fmt.Sprintf("%s can write it (mode %04o): chmod go-w", who, fi.Mode().Perm())
	}
	if o, err := fileowner.Of(dir, fi); err == nil && !o.Known() {
		return fmt.Sprintf("its owner, %s, is no user of this computer", o)
	}
	return ""
}
