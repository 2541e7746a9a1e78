//go:build !linux && !windows

package keys

import "golang.org/x/sys/unix"

// DisableCoreDumps stops this process from ever writing a core dump, which
// would hold the lease key and the device identity while the vault is
// unlocked: it sets RLIMIT_CORE to 0 (macOS and the BSDs have no
// per-process dumpable flag; the launchd daemon has no core limit raised
// unless configured). The service calls it once at start.
func DisableCoreDumps() error {
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
}
