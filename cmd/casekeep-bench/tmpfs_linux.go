package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func mountTmpfs(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size))
}

func unmountTmpfs(dir string) { unix.Unmount(dir, unix.MNT_DETACH) }
