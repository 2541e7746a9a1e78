// Package secret holds key material in memory that the operating system is
// asked to keep out of swap and out of core dumps: an anonymous mapping
// locked with mlock (and marked MADV_DONTDUMP on Linux) on Unix, a
// VirtualAlloc'd region locked with VirtualLock on Windows. The agent keeps
// the server's lease key and the unwrapped device identity's bytes in a
// [Buffer] while the vault is unlocked, and zeroes them when it locks.
//
// Locking can fail (on Linux RLIMIT_MEMLOCK is small for processes that are
// not root, and a container may forbid it); a Buffer then falls back to
// ordinary memory and says so through [Buffer.Locked], so that status can
// report it rather than pretend. Nothing here protects memory the Go runtime
// owns: copies a caller makes into ordinary slices or strings live in the
// garbage-collected heap, which can be swapped and is not zeroed when freed.
package secret
