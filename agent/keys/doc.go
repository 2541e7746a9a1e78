// Package keys holds the device's age identity: the key that opens this
// laptop's sealed case files. The vault sees it only through the small
// [Device] interface, so that a later lease (the identity wrapped by a key the
// server holds, and usable offline only for a window) can replace the plain
// [File] without the vault changing.
//
// The identity is generated on first start, of the kind the policy's escrow
// recipients require (hybrid post-quantum or X25519, since age cannot mix
// them in one file), and kept in the agent's state folder, which only
// root/SYSTEM can read. If the policy changes kind, a new identity is added
// and the older ones are kept, so files sealed before still open.
package keys
