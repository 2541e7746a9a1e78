//go:build !linux

package main

import "errors"

func mountTmpfs(string, int64) error { return errors.New("tmpfs is only available on Linux") }

func unmountTmpfs(string) {}
