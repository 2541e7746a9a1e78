// Package agent is everything that runs on a laptop, put together. [Open]
// takes the state folder's lock and, for an enrolled device, makes the
// reporter; [Agent.Run] then runs, under the policy in force, the encrypted
// cache with the watcher feeding it hints, the watch over storage outside
// the vault, the posture checks and the heartbeats, until it is stopped. A
// newer policy from the server is verified, saved and put in force at once:
// the cache and the outside watch are reopened under it. The agent writes a
// status file for `casekeep status`, keeps an alive file so the next start
// can tell an unannounced stop, and says farewell to the server when it is
// stopped ([Agent.Farewell]).
//
// An enrolled agent's vault key is leased from its server (vaultkey.go):
// the device identity rests on disk wrapped by a lease key only the server
// holds, unlocked at start with the server's lease or the offline copy,
// renewed after every heartbeat, locked when the server refuses it or the
// offline window passes (new files are still sealed, none can be opened).
// The server's lock, unlock and wipe commands are checked and carried out
// once each (commands.go); a wipe is a crash-safe crypto-shred recorded in
// [WipeFile] before anything is destroyed, acknowledged in the device's
// last heartbeat (wipe.go), after which the agent idles, wiped
// ([IdleWiped]). A device that is not enrolled keeps a plain identity file
// and reports wire.LeaseNone.
//
// The agent package itself only orchestrates: it creates the parts for each
// policy, passes each a small sink for its events (queued for the next
// heartbeat, with a heartbeat asked for soon when one is notable, and a
// desktop notification for the person at the laptop), and builds the
// heartbeat's snapshot and the status from what the parts report. Each
// concern has its own subpackage:
//
//   - vault keeps the case-file cache sealed with age, to the device's key
//     and the escrow recipients, and indexes it;
//   - watch tells the vault which paths under the cache may have changed;
//   - keys holds the device's age identity in the state folder: wrapped by
//     the server's lease key for an enrolled device, with the offline copy
//     of the lease as well protected as the laptop allows;
//   - state owns the state folder: its permissions, the agent lock and the
//     bbolt store;
//   - outside watches storage outside the vault: removable volumes
//     (approved or not, blocked, sealed or reported as policy says),
//     cloud-sync folders and the sweep folders, through storage, cloudsync
//     and sweep;
//   - storage lists the mounted volumes, tells when one arrives or leaves,
//     matches them against the allow-list and makes one read-only
//     (storage/storagetest is its fake source, for tests);
//   - cloudsync finds Dropbox, Google Drive, OneDrive, iCloud Drive and Box
//     folders and tells the council's accounts from personal ones;
//   - sweep watches the folders outside the vault and moves, seals or
//     reports the case files that appear in them;
//   - classify decides whether a file is a case file, from its path, its
//     name or a marker in its content;
//   - posture checks whether the system disk is encrypted;
//   - report enrolls the device, sends signed, chained heartbeats from a
//     durable spool with the commands' acknowledgements, and asks for the
//     lease;
//   - notify shows desktop notifications, rate-limited;
//   - internal/sysfs reads Linux's /sys carefully, for storage and posture.
//
// They take their dependencies (clock, folders, store, operating-system
// seams such as a storage source) as arguments, so each is tested against
// real folders and fakes; cmd/casekeep parses flags and runs the agent as a
// service or in the foreground.
package agent
