//go:build !linux

package agent

// systemStopping reports whether the computer is shutting down, where the
// service manager does not say so itself (Windows does: Shutdown).
func systemStopping() bool { return false }
