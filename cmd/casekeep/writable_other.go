//go:build !linux

package main

import "log/slog"

// ensureWritable does nothing outside Linux: launchd and the Windows
// service manager do not confine the agent's folders.
func ensureWritable(folders []string, log *slog.Logger) bool { return false }
