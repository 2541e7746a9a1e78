// Package lease is the one home of the rules both store backends follow
// for a device's lease keys and commands. Serving a lease
// (store.Keys.ServeLeases): each backend reads what it holds for the
// device into a [Device], asks [Decide], and writes what the [Decision]
// says (a key to make, a next key to promote, the log entry) in the
// transaction that read it. Refusals come first, in a fixed order:
// revoked, wiped (a wipe requested or the key destroyed), lost (an open
// lost report), locked (a lock in force); then the current key is served,
// made if the device has none, and a pending next key is promoted when
// the agent asks with its ID. [Rotation] says whether a key can be
// rotated, and [Cancellable] whether a command can still be cancelled
// (only before it is delivered).
package lease
