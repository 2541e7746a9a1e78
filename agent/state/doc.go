// Package state owns the agent's state folder: it makes the folder private
// (root/SYSTEM only, since it holds the device identity), holds the lock that
// lets one agent at a time use it, and opens the agent's bbolt database.
//
// The database is opened for each transaction and closed after, rather than
// for the agent's lifetime, so that commands such as `casekeep ls` can read
// it while the agent runs; within one process transactions are serialised by
// a mutex. Each subsystem owns its own buckets (the vault's index, later the
// heartbeat spool).
package state
