package main

import (
	"fmt"
	"io/fs"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// cacheWritableByOthers says whether the cache folder's ACL lets everyone,
// all users or all authenticated users write it.
func cacheWritableByOthers(dir string, fi fs.FileInfo) string {
	who, err := fileowner.WritableByOthers(dir, fi)
	if err != nil {
		return fmt.Sprintf("cannot read its ACL: %v", err)
	}
	if who != "" {
		return fmt.Sprintf("its ACL lets %s write it", who)
	}
	return ""
}
