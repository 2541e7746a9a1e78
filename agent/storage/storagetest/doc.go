// Package storagetest has a fake [storage.Source] for the tests of the
// packages that watch volumes: the storage monitor itself, and the agent's
// watch outside the vault. A [Source] lists the volumes a test sets (or
// fails as it says), can wake a monitor at once like the Linux source's
// mount notifications, and lets a test wait until the monitor has listed
// what it set. Its Block records every volume it is asked to make
// read-only and returns the errors a test scripts, in turn: a plain
// failure, [storage.ErrBlockDeferred], [storage.ErrBlockUnsupported], or
// [Hang], a block that never returns until the test releases it, like a
// filesystem whose FUSE daemon has stalled. Nothing in it touches the
// system's volumes unless the test hands Block the real one with
// [Source.BlockWith].
package storagetest
