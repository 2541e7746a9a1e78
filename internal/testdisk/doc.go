// Package testdisk gives tests a real small filesystem that fills up, so that
// "disk full" is tested against the kernel's own ENOSPC rather than a fake.
// It mounts a size-limited tmpfs, which needs Linux and root. Where that is
// not possible the test is skipped with a message, except under CI=true,
// where it fails (see package testenv): CI must run every fault test.
package testdisk
