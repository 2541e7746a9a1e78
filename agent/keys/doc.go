// Package keys holds the device's age identity: the key that opens this
// laptop's sealed case files. The vault sees it only through the small
// [Device] interface: Recipient, the public key new files are sealed to,
// and Identities, which may answer [ErrLocked].
//
// The key hierarchy of an enrolled device, held by a [Keyring]:
//
//   - The lease key (32 random bytes with a key ID) is the server's, one per
//     device. The server serves it to the device on request and records every
//     lease it serves; on the laptop it lives in memory only, locked against
//     swap and left out of core dumps where the OS allows (see
//     [Keyring.MemoryLocked] and [DisableCoreDumps]).
//   - The device identity (every identity, newest first: X25519 or hybrid
//     post-quantum, as the policy's escrow recipients require; a kind change
//     adds one and keeps the old, see [Keyring.EnsureKind]) rests on disk only
//     in [WrappedName], sealed with XChaCha20-Poly1305 under the lease key.
//     Its header names the device, the lease key's ID and the public
//     recipients, so the vault goes on sealing while locked, and is the
//     AEAD's associated data, so a header altered or moved fails to open. It
//     is made by [Create] at enrollment and never written in plaintext; a
//     device enrolled before wrapping has its plaintext file migrated by the
//     first [Keyring.Unlock], crash-safely. [Keyring.Rewrap] re-wraps it for a
//     new lease key (rotation), and [Keyring.Shred] crypto-shreds it.
//   - The offline copy of the lease key ([Keyring.SaveOffline]) lets a
//     laptop unlock without the server for the policy's offline window (72
//     hours by default). It names the device and its expiry, and is held as
//     well as the laptop allows: sealed to the TPM 2.0 where there is one
//     (Linux /dev/tpmrm0, Windows TBS: wire.OfflineTPM), otherwise by the
//     OS (Windows DPAPI with machine scope, the macOS System keychain, a
//     root-only file on Linux: wire.OfflineOS), which is only as safe as
//     the disk encryption: each can be read by an administrator of the
//     laptop, and from the disk itself by anyone, unless it is encrypted.
//     Past the window without a renewal it is destroyed and the vault is
//     locked ([Keyring.Expire]).
//
// What each OS protects the offline copy with, and what was run: the TPM
// code is tested against a real software TPM (swtpm) and the Linux file
// for real; DPAPI and the keychain compile and vet, and the keychain's
// command building and output parsing are tested against a fake
// `security`. The TPM does not bind the copy to PCRs, and the copy's
// expiry is enforced by the agent, not the TPM: someone who can run code as
// root on the laptop itself can unseal a copy (even a removed one recovered
// from the disk) after its window. Off the laptop, it unseals nowhere.
//
// A device that is not enrolled (a local policy, in dev or try mode: no
// server to lease from) keeps its identities in plain form in [FileName]
// in the root-only state folder, through [File], [Load] and
// [LoadOrCreate].
package keys
