// Package vault keeps the case-file cache sealed: every file in it is an age
// file, name.ext.age, encrypted to the device's identity and to every escrow
// recipient in policy, so the stock age tool and an escrow identity can
// always recover it.
//
// Plaintext found in the cache, at the startup scan, at a periodic rescan or
// after a watch hint, is sealed once its writer is done (quiet for a while,
// size and modification time stable, and not held open: an exclusive open on
// Windows, a write-lease probe on Linux). Sealing writes a temporary file in
// the same folder, fsyncs it, links it into place under its final name
// (never replacing a file), fsyncs the folder, checks that the new header
// opens with the device identity, and only then removes the plaintext. The
// plaintext is first renamed aside and checked to be the very file that was
// sealed, unchanged, so an editor that saved a new version at that moment
// loses nothing. A crash at any step leaves the plaintext or a complete
// sealed file, never neither; the next scan removes leftover temporary files
// and finishes or undoes a half-done removal. A temporary file is the
// vault's only if its name carries a tag made with a secret kept in the
// state store (".RANDOM.TAG.casekeep-tmp"), no live process holds it, and
// it holds the start of an age file: a user's file that merely looks like
// one is never removed, but given an ordinary name and treated as theirs.
//
// The agent runs as root or SYSTEM inside a folder its user can write, so
// every operation goes through an [os.Root] on the cache folder and checks
// what it opened against what it listed: symlinks, hardlinked files, FIFOs,
// sockets and devices are never read, written, followed or removed, only
// reported once. The index of sealed files (path, case reference, size,
// sealed-at) lives in the agent's state store and is reconciled with the
// folder by every scan; the folder, not the index, is the truth.
//
// While the device identity is locked (an enrolled device without its
// lease), plaintext is still sealed: sealing needs only the public keys.
// The new file's header cannot be opened then, so its structure is checked
// instead (a stanza for each recipient, of its kind, and the whole file
// there) and it is indexed as unverified, until the first scan after the
// unlock opens its header with the identity. An age file the index does
// not know cannot be told as the device's while locked: it is counted as
// waiting to be sealed, never sealed again nor removed, and looked at
// again once unlocked. [Vault.RemoveSealed] removes the sealed files the
// vault made, for a wipe, and nothing else (best-effort: one it cannot
// remove is counted, not fatal). A vault opened with Config.EscrowOnly
// seals to the escrow recipients alone, for a wipe whose device identity
// does not open or is not authenticated.
package vault
