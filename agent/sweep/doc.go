// Package sweep finds case files outside the vault and acts on them as
// policy says. It watches a changing set of folders (the sweep folders such
// as Downloads and Desktop, personal cloud-sync folders, unapproved removable
// volumes), each with its action: audit (report only), quarantine (move the
// file into the vault, sealed) or seal (encrypt it where it is). Watch
// events are hints and a periodic rescan is the truth, as in the vault. A
// file is looked at only once it has stopped changing: names that browsers
// give to downloads in progress (.crdownload, .part, ...) and files modified
// within the settle time are left until they are complete. Whether a file is
// a case file is decided by a Classifier reading a bounded number of bytes;
// files are opened with [vault.OpenRegular], so no symlink is ever followed
// in folders users can write. Every quarantine goes through the vault's
// import, which puts the sealed copy in place durably before the original
// is removed: at no moment is the file in neither place.
package sweep
