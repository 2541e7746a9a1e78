// Package watch tells the vault which paths under the case-file cache may
// have changed, so that a file is sealed within a second of being saved.
//
// Events are hints, never facts: a [Hint] names a path that may have
// changed, and the consumer looks at the disk itself to see what is there
// now. The truth is a full rescan, which a Rescan hint asks for at start, on
// a timer (every 15 minutes by default), and whenever events may have been
// lost (the kernel's queue overflowed, a watch could not be added, or the
// consumer fell too far behind). Events for one path are debounced the way
// Syncthing does it: the path is reported once it has been quiet for the
// quiet delay (150ms), or once the maximum delay (2s) has passed since its
// first unreported event if a writer never stops. Chmod-only events are
// dropped, since indexers and antivirus produce storms of them. Pending paths
// are kept in a set, never in a queue that blocks the kernel's reader, so a
// slow consumer costs memory up to a bound and then one rescan.
//
// fsnotify has no recursive mode, so [Watcher.Run] walks the tree and
// watches every folder, and watches each new folder (created or moved in) as
// it appears, reporting the files already inside it, which may have been
// written before the watch was in place. Symbolic links are never followed:
// a link to a folder is reported as itself, and nothing under it is watched
// or reported. After events may have been lost, and before every timed
// rescan, the watches are checked against the disk, so a folder whose
// creation was missed, or which a watch limit kept out, is watched again.
// Every hint is a clean, slash-separated path relative to the root, never
// one with "..".
//
// Platform notes. On Linux (inotify) each folder costs one watch out of
// fs.inotify.max_user_watches; when the limit is reached the package logs how
// to raise it and asks for a rescan, and keeps the watches it has. Network
// and user-space filesystems (NFS, SMB, FUSE) deliver no events on Linux, so
// only the periodic rescan sees changes there. On macOS (kqueue) every
// watched file and folder holds an open file descriptor, so large trees run
// into the open-file limit, and kqueue never reports an overflow. On Windows
// (ReadDirectoryChangesW) a burst of events larger than the 64KiB buffer
// overflows, which becomes a rescan.
package watch
