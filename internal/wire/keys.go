package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"
)

// The device's vault identity rests on disk only wrapped by a lease key
// that the server holds, one per device. The agent asks for it with a
// LeaseRequest signed by its device key, at start (Want "key") and after
// every heartbeat the server answers (Want "renew", which extends the
// offline window of its local copy); the server answers with a LeaseReply
// signed by the server key, and records every lease it serves. It refuses
// a device that is revoked, marked lost, locked or wiped.

// The lease states an agent reports in Heartbeat.Lease.
const (
	LeaseUnlocked  = "unlocked"  // the vault key is open, from a lease the server served
	LeaseOffline   = "offline"   // the vault key is open, from the local offline copy
	LeaseLocked    = "locked"    // no lease: new files are sealed, none can be opened
	LeaseWiped     = "wiped"     // crypto-shredded: the vault key is gone from the device
	LeasePlaintext = "plaintext" // the identity is not yet wrapped (before the first lease)
	LeaseNone      = "none"      // not enrolled: the identity is kept as a plain file
)

// How the local copy of the lease for the offline window is held, in
// Heartbeat.OfflineCopy.
const (
	OfflineTPM  = "tpm"  // sealed to this computer's TPM 2.0
	OfflineOS   = "os"   // protected by the OS only (DPAPI, the System keychain, a root-only file): as safe as the disk encryption
	OfflineNone = "none" // no copy: the vault opens only while the server answers
)

// What a LeaseRequest wants.
const (
	WantKey   = "key"   // send the lease key: the agent unlocks its vault
	WantRenew = "renew" // extend the offline window only
)

// Why a lease is refused, in LeaseReply.Refused.
const (
	RefusedLost    = "lost"    // the device is marked lost
	RefusedLocked  = "locked"  // IT security locked the device
	RefusedWiped   = "wiped"   // a wipe was requested: the lease key is, or will be, destroyed
	RefusedRevoked = "revoked" // the device's enrollment is revoked
)

// The commands a server sends (Command.Type).
const (
	CommandLock   = "lock"   // drop every copy of the lease; the vault stays sealed until a lease is served again
	CommandUnlock = "unlock" // ask for a lease again
	CommandWipe   = "wipe"   // crypto-shred: the wrapped identity, every lease copy and the cache's sealed files
)

// The results of a command, in CommandAck.Result.
const (
	AckDone    = "done"    // carried out
	AckFailed  = "failed"  // tried, and failed: Reason says why
	AckRefused = "refused" // not carried out: an unknown action, another device's, expired
)

// LeaseKeySize is the size of a lease key.
const LeaseKeySize = 32

// LeaseRequest asks the server for the device's lease. It is signed with
// the device key (SignLease) and sent over the pinned connection.
type LeaseRequest struct {
	V        int       `json:"v"`
	DeviceID string    `json:"device_id"`
	Nonce    string    `json:"nonce"`  // base64 of 16 fresh random bytes; the server refuses one it has seen
	Time     time.Time `json:"time"`   // the agent's clock, recorded (the server's own clock decides)
	KeyID    string    `json:"key_id"` // the lease key the agent's wrapped identity needs; "" if it has none yet
	Want     string    `json:"want"`   // WantKey or WantRenew
}

// LeaseGrant is a lease: the key (when asked for), its ID, and until when
// the agent may keep using its local copy without hearing from the server.
type LeaseGrant struct {
	KeyID string    `json:"key_id"`
	Key   []byte    `json:"key,omitempty"` // LeaseKeySize bytes
	Until time.Time `json:"until"`         // the server's time of serving plus the policy's offline window
	// Next, during a rotation, is the key to re-wrap the identity with.
	// The server keeps serving KeyID until the agent asks with Next's.
	Next *NextKey `json:"next,omitempty"`
}

// Zero overwrites the grant's key material (Key, and Next's) with zeros:
// call it once the keys are used. It does nothing on nil.
func (g *LeaseGrant) Zero() {
	if g == nil {
		return
	}
	clear(g.Key)
	if g.Next != nil {
		clear(g.Next.Key)
	}
}

// NextKey is a replacement lease key.
type NextKey struct {
	KeyID string `json:"key_id"`
	Key   []byte `json:"key"`
}

// LeaseReply is the server's answer to a LeaseRequest, signed with the
// server key (SignLeaseReply). Exactly one of Grant and Refused is set.
type LeaseReply struct {
	V          int         `json:"v"`
	DeviceID   string      `json:"device_id"`
	Nonce      string      `json:"nonce"` // the request's
	ServerTime time.Time   `json:"server_time"`
	Grant      *LeaseGrant `json:"grant,omitempty"`
	Refused    string      `json:"refused,omitempty"` // one of the Refused constants
}

// CommandAck says what an agent did with a command.
type CommandAck struct {
	ID     string    `json:"id"`
	Type   string    `json:"type"`
	Result string    `json:"result"` // AckDone, AckFailed or AckRefused
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"` // the agent's clock
}

// NewNonce returns a fresh nonce for a LeaseRequest or a Batch.
func NewNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SignLease signs a lease request body with the device key.
func SignLease(priv ed25519.PrivateKey, body []byte) []byte { return sign(priv, domainLease, body) }

// VerifyLease checks a lease request's signature.
func VerifyLease(pub ed25519.PublicKey, body, sig []byte) error {
	return verify(pub, domainLease, body, sig)
}

// SignLeaseReply signs a lease reply body with the server key.
func SignLeaseReply(priv ed25519.PrivateKey, body []byte) []byte {
	return sign(priv, domainLeaseReply, body)
}

// VerifyLeaseReply checks a lease reply's signature.
func VerifyLeaseReply(pub ed25519.PublicKey, body, sig []byte) error {
	return verify(pub, domainLeaseReply, body, sig)
}

// DecodeLeaseRequest decodes and checks a lease request.
func DecodeLeaseRequest(b []byte) (*LeaseRequest, error) {
	if len(b) > maxLeaseMessage {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	return decodeChecked(b, func(r *LeaseRequest) int { return r.V }, func(c *checker, r *LeaseRequest) {
		c.id("device_id", r.DeviceID)
		c.nonce("nonce", r.Nonce)
		c.time("time", r.Time)
		c.keyID("key_id", r.KeyID, true)
		if r.Want != WantKey && r.Want != WantRenew {
			c.fail("want must be %s or %s", WantKey, WantRenew)
		}
	})
}

// DecodeLeaseReply decodes and checks a lease reply.
func DecodeLeaseReply(b []byte) (*LeaseReply, error) {
	if len(b) > maxLeaseMessage {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	return decodeChecked(b, func(r *LeaseReply) int { return r.V }, func(c *checker, r *LeaseReply) {
		c.id("device_id", r.DeviceID)
		c.nonce("nonce", r.Nonce)
		c.time("server_time", r.ServerTime)
		switch {
		case r.Grant == nil && r.Refused == "":
			c.fail("a lease reply neither grants nor refuses")
		case r.Grant != nil && r.Refused != "":
			c.fail("a lease reply both grants and refuses")
		case r.Grant != nil:
			c.grant("grant", r.Grant)
		default:
			c.str("refused", r.Refused, maxShortString)
		}
	})
}

// maxLeaseMessage bounds a lease request or reply.
const maxLeaseMessage = 16 << 10

func (c *checker) grant(field string, g *LeaseGrant) {
	c.keyID(field+".key_id", g.KeyID, false)
	if g.Key != nil && len(g.Key) != LeaseKeySize {
		c.fail("%s.key is not %d bytes", field, LeaseKeySize)
	}
	c.time(field+".until", g.Until)
	if n := g.Next; n != nil {
		c.keyID(field+".next.key_id", n.KeyID, false)
		if len(n.Key) != LeaseKeySize {
			c.fail("%s.next.key is not %d bytes", field, LeaseKeySize)
		}
		if n.KeyID == g.KeyID {
			c.fail("%s.next has the same key ID", field)
		}
	}
}

// nonce checks a nonce: base64url of 16 bytes.
func (c *checker) nonce(field, s string) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err != nil || len(b) != 16 {
		c.fail("%s is not a nonce", field)
	}
}

// keyID checks a lease key ID: 1 to 64 characters of [A-Za-z0-9_-], or
// empty where allowed.
func (c *checker) keyID(field, s string, emptyOK bool) {
	if s == "" && emptyOK {
		return
	}
	if !ValidKeyID(s) {
		c.fail("%s is not a key ID", field)
	}
}

// ValidKeyID reports whether s has the form of a lease key ID.
func ValidKeyID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (c *checker) command(field string, cmd Command) {
	c.str(field+".id", cmd.ID, maxShortString)
	c.str(field+".type", cmd.Type, maxShortString)
	if cmd.ID == "" || cmd.Type == "" {
		c.fail("%s has no id or type", field)
	}
	c.id(field+".device_id", cmd.DeviceID)
	c.time(field+".issued", cmd.Issued)
	c.time(field+".expires", cmd.Expires)
}

func (c *checker) ack(field string, a CommandAck) {
	c.str(field+".id", a.ID, maxShortString)
	c.str(field+".type", a.Type, maxShortString)
	c.str(field+".reason", a.Reason, maxString)
	c.time(field+".at", a.At)
	if a.ID == "" {
		c.fail("%s has no id", field)
	}
	switch a.Result {
	case AckDone, AckFailed, AckRefused:
	default:
		c.fail("%s.result must be done, failed or refused", field)
	}
}
