package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"time"

	"filippo.io/age"
)

// Policy is a validated policy document. Obtain one from [Parse] (YAML source),
// [Verify] (a signed bundle) or [Decode] (canonical bytes); each applies the
// defaults and rejects what [Validate] rejects.
type Policy struct {
	// Version only goes forward: an agent refuses a policy whose version is
	// not greater than the one in force.
	Version int
	// Name is a human label, such as "Example Council social care laptops".
	Name string
	// IssuedAt is when IT security wrote this version.
	IssuedAt time.Time

	Vault     Vault
	Storage   Storage
	Classify  Classify
	Heartbeat Heartbeat
	Offline   Offline
	// Checks lists the posture checks a device must pass to be compliant,
	// in the order of [KnownChecks].
	Checks []Check
}

// Vault configures the encrypted case-file cache.
type Vault struct {
	// CachePaths holds the cache folder per operating system, unexpanded:
	// see [ExpandPath].
	CachePaths CachePaths
	// CaseRefPattern derives a case reference from a file's slash-separated
	// path relative to the cache folder; see [Vault.CaseRef].
	CaseRefPattern *regexp.Regexp
	// EscrowRecipients are the council's recovery keys; every sealed file is
	// also encrypted to each of them. They are all X25519 or all hybrid
	// post-quantum, never mixed.
	EscrowRecipients []age.Recipient
	// WorkspaceTTL bounds how long a decrypted working copy may live.
	WorkspaceTTL time.Duration
	Debounce     Debounce
}

// CachePaths holds one cache folder per operating system. An empty entry
// means casekeep keeps no cache on that operating system.
type CachePaths struct {
	Linux   string
	MacOS   string
	Windows string
}

// For returns the entry for a GOOS value ("linux", "darwin", "windows"), or
// "" if there is none.
func (c CachePaths) For(goos string) string {
	switch goos {
	case "linux":
		return c.Linux
	case "darwin":
		return c.MacOS
	case "windows":
		return c.Windows
	}
	return ""
}

// Debounce sets how long the agent waits for a writer to finish with a file:
// Quiet after the last change, but never more than Max after the first.
type Debounce struct {
	Quiet time.Duration
	Max   time.Duration
}

// CaseRef returns the case reference for a file, given its path relative to
// the cache folder with "/" separators, or "" if the pattern does not match.
// The reference is the pattern's group named "ref" if it has one, else its
// first group, else the whole match.
func (v Vault) CaseRef(rel string) string {
	re := v.CaseRefPattern
	if re == nil {
		return ""
	}
	m := re.FindStringSubmatch(rel)
	if m == nil {
		return ""
	}
	return m[caseRefGroup(re)]
}

func caseRefGroup(re *regexp.Regexp) int {
	if i := re.SubexpIndex("ref"); i >= 0 {
		return i
	}
	if re.NumSubexp() >= 1 {
		return 1
	}
	return 0
}

// PostQuantum reports whether the escrow recipients are hybrid post-quantum
// (ML-KEM-768 + X25519). A device identity must be of the same kind, because
// age refuses to mix the two in one file.
func (v Vault) PostQuantum() bool {
	for _, r := range v.EscrowRecipients {
		if _, ok := r.(*age.HybridRecipient); ok {
			return true
		}
	}
	return false
}

// Storage configures what the agent does about storage outside the vault.
type Storage struct {
	RemovableMedia RemovableMedia
	SyncFolders    SyncFolders
	Sweep          Sweep
}

// RemovableMedia sets the action for removable volumes that no Allow entry
// approves: [ActionAudit], [ActionSeal] or [ActionBlock].
type RemovableMedia struct {
	Action Action
	Allow  []Device
}

// Device is an allow-list entry for removable media. VendorID is four
// lower-case hex digits; ProductID is four hex digits or a pattern with "*"
// and "?"; Serial is a pattern in the same syntax ("*" for any). No other
// character is special: "[" and a backslash in a serial match themselves.
type Device struct {
	VendorID    string
	ProductID   string
	Serial      string
	Description string
}

// SyncFolders sets the action for a case file found in a cloud-sync folder
// that is not the council's: [ActionAudit], [ActionSeal] or
// [ActionQuarantine]. Approved lists the council's own accounts, whose
// folders are reported but left alone.
type SyncFolders struct {
	Action   Action
	Approved []SyncAccount
}

// SyncAccount is one of the council's own cloud-sync accounts. Provider is
// one of [SyncProviders]; Account is an email domain (its subdomains match
// too), a tenant id, a SharePoint host or a tenant or team name, or "*" for
// every business account of that provider. Domains and tenant ids are
// better than names, which any organisation can choose.
type SyncAccount struct {
	Provider string
	Account  string
}

// SyncProviders are the cloud-sync providers the agent recognises.
var SyncProviders = []string{"dropbox", "google_drive", "onedrive", "icloud_drive", "box"}

// Sweep names the folders where stray case files are looked for (such as
// Downloads and Desktop), and what is done with one: [ActionAudit] or
// [ActionQuarantine]. Folders are unexpanded, like [CachePaths].
type Sweep struct {
	Action  Action
	Folders []string
}

// Action is what the agent does when it finds something policy forbids.
type Action string

// The actions. Each policy field accepts a subset; see the field's docs.
const (
	// ActionAudit reports an event and changes nothing.
	ActionAudit Action = "audit"
	// ActionSeal encrypts case files in place to the vault's recipients.
	ActionSeal Action = "seal"
	// ActionBlock stops writes to the volume where the OS allows it.
	ActionBlock Action = "block"
	// ActionQuarantine moves the file into the vault, sealed.
	ActionQuarantine Action = "quarantine"
)

// Classify says how the agent recognises a case file outside the vault: in
// the sweep folders, in cloud-sync folders and on removable media. Any one
// rule is enough: a path pattern, a case reference in the file's name, or a
// marker in its first bytes or its document text (.docx, .xlsx, .pdf).
type Classify struct {
	// MaxBytes bounds how many bytes the agent reads from one file to
	// classify it, whatever the file's size.
	MaxBytes int64
	// NamePattern finds a case reference in a file's name (its group named
	// "ref", else its first group, else the whole match); nil means a name
	// alone never marks a case file.
	NamePattern *regexp.Regexp
	// PathPatterns match a file's full path, with "/" separators on every
	// operating system.
	PathPatterns []*regexp.Regexp
	// Markers are texts that mark a case file, such as a protective
	// marking ("OFFICIAL-SENSITIVE") or the header of the council's
	// case-system export. They are matched without regard to case,
	// whitespace or the kind of dash, so "OFFICIAL SENSITIVE" also matches
	// "official–sensitive" and "OFFICIALSENSITIVE".
	Markers []string
}

// Heartbeat configures how often the agent reports. An empty Endpoint means
// the server the device enrolled with.
type Heartbeat struct {
	Endpoint string
	Interval time.Duration
	Jitter   time.Duration
}

// MinInterval is the shortest heartbeat interval a policy may set.
const MinInterval = 30 * time.Second

// Offline bounds how long a device may be out of touch: after
// MissingAfterDays without a heartbeat the server counts it as missing, and
// after UnlockWindow without the server the agent stops unlocking the vault.
type Offline struct {
	MissingAfterDays int
	UnlockWindow     time.Duration
}

// Check names a posture check.
type Check string

// The posture checks a policy can require.
const (
	CheckDiskEncryption Check = "disk_encryption"
	CheckFirewall       Check = "firewall"
	CheckScreenLock     Check = "screen_lock"
	CheckOSUpdates      Check = "os_updates"
)

// KnownChecks lists every check a policy can require, in canonical order.
var KnownChecks = []Check{CheckDiskEncryption, CheckFirewall, CheckScreenLock, CheckOSUpdates}

// Hash returns the SHA-256 of the policy's canonical encoding in hex. It
// names one exact policy: heartbeats and the server use it to say which
// policy a device runs.
func (p *Policy) Hash() string {
	sum := sha256.Sum256(Canonical(p))
	return hex.EncodeToString(sum[:])
}
