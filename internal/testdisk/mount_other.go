//go:build !linux

package testdisk

import "errors"

func mount(dir string, size int64) error {
	return errors.New("tmpfs mounts are only available on Linux")
}

func unmount(dir string) error { return nil }
