// Package kek seals the lease keys the server's store holds with a
// key-encryption key kept outside the database: a file in the server's
// data folder (File, mode 0600, made on first start). A dump or backup of
// the database then holds each device's lease key only sealed
// (XChaCha20-Poly1305, with the device ID and key ID as additional data,
// so a sealed key cannot be moved to another device or key row); without
// the file it opens none of them. Keep the file out of the database's
// backups, and back it up on its own.
package kek
