package wire

import "strings"

// Event types. Every type an agent puts in Event.Type, and every type the
// server adds for a heartbeat, is spelled here and nowhere else: the agent
// derives its packages' event kinds from these constants, and the server
// matches on them. A type is a prefix naming where it happened and a kind
// naming what happened ("storage." + "volume_unapproved").

// The prefixes of event types, by where the event happened.
const (
	PrefixVault   = "vault."   // the encrypted case-file cache
	PrefixStorage = "storage." // removable media (and what was found on it)
	PrefixSync    = "sync."    // cloud-sync folders (and what was found in them)
	PrefixSweep   = "sweep."   // the swept folders: Downloads, Desktop
	PrefixPosture = "posture." // posture checks; the kind is the check's name
	PrefixAgent   = "agent."   // the agent itself
)

// OutsidePrefixes are the prefixes of events about storage outside the
// vault: removable media, sync folders and swept folders.
var OutsidePrefixes = []string{PrefixStorage, PrefixSync, PrefixSweep}

// The vault's kinds, and their event types.
const (
	VaultSealed         = "sealed"          // a plaintext file was sealed and removed
	VaultPlaintextFound = "plaintext_found" // plaintext is in the cache (sealed soon)
	VaultSealFailed     = "seal_failed"     // sealing failed; the detail says why
	VaultRefused        = "refused"         // a path the vault will not touch
	VaultIndexRepaired  = "index_repaired"  // the scan corrected the index

	EventVaultSealed         = PrefixVault + VaultSealed
	EventVaultPlaintextFound = PrefixVault + VaultPlaintextFound
	EventVaultSealFailed     = PrefixVault + VaultSealFailed
	EventVaultRefused        = PrefixVault + VaultRefused
	EventVaultIndexRepaired  = PrefixVault + VaultIndexRepaired
)

// The vault key (see the Lease constants).
const (
	EventVaultUnlocked        = PrefixVault + "unlocked"         // the vault key was opened: the detail says from a lease or the offline copy
	EventVaultLocked          = PrefixVault + "locked"           // the vault key was dropped: the detail says why (refused, a lock command, the offline window passed)
	EventVaultIdentityWrapped = PrefixVault + "identity_wrapped" // the plaintext identity of an older agent was wrapped and removed
	EventVaultRewrapped       = PrefixVault + "rewrapped"        // the identity was wrapped with a new lease key (rotation)
	EventVaultWiped           = PrefixVault + "wiped"            // crypto-shred done: the detail counts the sealed files removed
	// EventVaultRecipientChanged: the device identity's public recipients
	// in the state folder are not the ones the agent pinned (someone
	// changed the file): nothing is sealed to them.
	EventVaultRecipientChanged = PrefixVault + "recipient_changed"
)

// What the sweeper did with a case file found outside the vault. These
// kinds follow the prefix of where the file was: PrefixSweep, PrefixSync
// or PrefixStorage ("sync.quarantined").
const (
	OutsideCaseFileFound = "case_file_found" // found where policy says only to report it
	OutsideQuarantined   = "quarantined"     // moved into the vault, sealed
	OutsideSealedInPlace = "sealed_in_place" // sealed where it was found
	OutsideActionFailed  = "action_failed"   // found, but the policy's action failed
)

// Removable media.
const (
	EventVolumeApproved   = PrefixStorage + "volume_approved"   // an allow-listed removable volume arrived
	EventVolumeUnapproved = PrefixStorage + "volume_unapproved" // a removable volume not on the allow-list arrived
	EventVolumeRemoved    = PrefixStorage + "volume_removed"    // a removable volume left
	EventVolumeBlocked    = PrefixStorage + "volume_blocked"    // an unapproved volume was made read-only
	EventBlockFailed      = PrefixStorage + "block_failed"      // an unapproved volume could not be made read-only
)

// Cloud-sync folders.
const (
	EventSyncFolderFound    = PrefixSync + "folder_found"    // a sync folder not approved by policy
	EventSyncFolderApproved = PrefixSync + "folder_approved" // a sync folder of an approved account
)

// The agent itself, and what the server adds for a heartbeat.
const (
	// EventUnannouncedStop is the type of the event an agent reports when
	// it starts and finds that its previous run ended without a Stopping
	// heartbeat (killed, crashed, or the power lost). Its time is the last
	// time that run recorded itself alive.
	EventUnannouncedStop = PrefixAgent + "unannounced_stop"
	// EventCoalesced is stored by the server for each Heartbeat.Coalesced
	// entry: events counted, not listed.
	EventCoalesced = PrefixAgent + "coalesced"
	// EventSpoolFull is stored by the server for a heartbeat whose Skipped
	// count is not zero.
	EventSpoolFull = PrefixAgent + "spool_full"
	// EventCommandRefused: a command that did not verify (another
	// device's, a replayed reply, expired, an unknown action) was refused;
	// the detail says why.
	EventCommandRefused = PrefixAgent + "command_refused"
	// EventClockBehind: the device's clock is behind the latest time the
	// server stated in a signed reply (set back?): the offline copy of the
	// lease is not kept or used while it is; the detail says by how much.
	EventClockBehind = PrefixAgent + "clock_behind"
	// EventPolicyRolledBack: the policy saved on the device is older than
	// the one it had in force (put back by someone?): the agent does not
	// run the vault under it until the server gives a newer one.
	EventPolicyRolledBack = PrefixAgent + "policy_rolled_back"
	// EventAgentChannelFailed: the agent could not open its local channel
	// (the socket or pipe `casekeep status` asks it on), so people at the
	// laptop cannot ask it anything; it keeps sealing. The detail says why.
	EventAgentChannelFailed = PrefixAgent + "channel_failed"
)

// PostureEvent is the type of the event that reports a change in the
// result of the posture check named check ("posture.disk_encryption").
func PostureEvent(check string) string { return PrefixPosture + check }

// IsCaseFileOutside reports whether an event type says a case file was
// found outside the vault (reported, moved into it, or sealed in place),
// wherever it was found.
func IsCaseFileOutside(typ string) bool {
	for _, p := range OutsidePrefixes {
		if kind, ok := strings.CutPrefix(typ, p); ok {
			switch kind {
			case OutsideCaseFileFound, OutsideQuarantined, OutsideSealedInPlace:
				return true
			}
		}
	}
	return false
}
