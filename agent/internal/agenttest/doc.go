// Package agenttest is the kit the agent's package tests share, so that each
// piece of test plumbing is written once: [Sys] builds a fake Linux sysfs
// tree, /dev and mount table (the shape the storage monitor and the
// disk-encryption check both read); [NewDevice] makes a device's keys for a
// test (a prepared state folder with the device identity, and an escrow
// identity whose private half the test keeps, X25519 or hybrid
// post-quantum); [Policy] is a test's policy sealing to that escrow
// identity; [Decrypt] opens a sealed file; [WriteOld] writes a file a
// minute old, settled; [UserLink] makes a symbolic link as an ordinary user
// would; [Recorder] keeps what the code under test gives its sink (events,
// notifications) for the test to read and wait on, within [Eventually]; and
// [Crash] is the crash harness: it runs the test binary again as a child
// that seals into a vault ([CrashVault]), kills it with SIGKILL at random
// moments, and lets the test check its invariants after each kill. [Kills]
// is the -crash.kills flag (200 unless given). The package is for tests only; it imports testing.
package agenttest
