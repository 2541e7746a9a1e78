//go:build !linux

package installer

import "log/slog"

// EnsureWritable does nothing outside Linux: launchd and the Windows
// service manager do not confine the agent's folders.
func EnsureWritable(folders []string, log *slog.Logger) bool { return false }
