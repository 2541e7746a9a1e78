// Package agent is everything that runs on a laptop, put together. [Open]
// takes the state folder's lock, loads the device identity and opens the
// encrypted cache; [Agent.Run] keeps the cache sealed, feeding the vault
// the watcher's hints until it is stopped.
//
// Its subpackages each own one concern: the encrypted case-file cache
// (vault), recursive folder watching (watch), the device's keys (keys) and
// the state folder and store (state); removable media, stray case files,
// posture checks and heartbeats are to come. They take their dependencies
// (clock, folder, store) as arguments so each can be tested against real
// folders and fakes; cmd/casekeep parses flags and runs the agent as a
// service or in the foreground.
package agent
