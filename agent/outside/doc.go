// Package outside is the agent's watch over storage outside the vault:
// removable volumes, cloud-sync folders and the policy's sweep folders
// (Downloads, Desktop). A [Watcher] runs, for the policy in force and with
// the open vault, a storage monitor, a sync-folder finder and a sweeper, and
// decides what each thing it finds calls for. A removable volume that
// arrives is matched against the policy's allow-list and reported as
// approved or not; an unapproved one is then blocked, sealed or only
// reported, as policy says, and its files are swept. Blocking goes through
// the storage source's Block, under a deadline (a hanging filesystem counts
// as a failure), and a block that fails is tried again after 1, 2, 3 and 4
// times the retry interval; one the system cannot do at all, or one
// deferred until the volume is next plugged in, is not. A blocked volume
// made writable again is blocked again. Sync folders are looked for in
// every home it looks after and reported once each; a personal one is swept
// only if it lies strictly inside the home that named it and belongs to
// that home's owner, since the agent runs as root and the configuration
// that names it is the user's to write. The watcher outlives a policy
// change: the volumes it knew are listed again under the new policy and
// not reported twice, and what was done about them stands if the new
// policy decides the same.
//
// It tells the orchestrator what happened through a [Sink] of plain funcs:
// events for the next heartbeat (types from internal/wire; details name
// media ids, folder labels, rules and case references, never a file or a
// person), a request for a heartbeat soon, notifications for the person at
// the laptop, and a status change. [Watcher.Status] and
// [Watcher.Summary] give what it knows for the status file and the
// heartbeat's storage section.
package outside
