//go:build !windows

package cloudsync

// systemRegistry is nil: only Windows has a registry.
func systemRegistry() Registry { return nil }
