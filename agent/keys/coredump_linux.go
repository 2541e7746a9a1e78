package keys

import "golang.org/x/sys/unix"

// DisableCoreDumps stops this process from ever writing a core dump, which
// would hold the lease key and the device identity while the vault is
// unlocked. On Linux it sets RLIMIT_CORE to 0 and clears the process's
// "dumpable" flag (prctl PR_SET_DUMPABLE 0), which also covers a
// core_pattern that pipes dumps to a helper (systemd-coredump, apport),
// and stops processes of the same user without CAP_SYS_PTRACE from
// attaching to it or reading its memory through /proc. The service calls
// it once at start.
func DisableCoreDumps() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
