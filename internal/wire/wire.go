package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/casekeep/casekeep/internal/printable"
)

// Version is the protocol version this code speaks. A server reads every
// version from 1 to Version; an agent sends Version.
const Version = 1

// The agent-facing endpoints.
const (
	PathEnroll     = "/api/agent/v1/enroll"
	PathHeartbeats = "/api/agent/v1/heartbeats"
	PathPolicy     = "/api/agent/v1/policy"
	PathLease      = "/api/agent/v1/lease"
)

// SignatureHeader carries the base64 Ed25519 signature of a request or reply
// body, where the body is not itself a batch of signed heartbeats.
const SignatureHeader = "Casekeep-Signature"

// Size limits. A request over MaxRequest is refused before it is read.
const (
	MaxRequest       = 1 << 20   // bytes in one request body
	MaxHeartbeat     = 256 << 10 // bytes in one heartbeat body
	MaxBatch         = 100       // heartbeats in one request
	MaxEvents        = 1000      // events in one heartbeat
	MaxCaseRefs      = 10_000    // case references in one heartbeat
	maxString        = 1024      // bytes in any string field
	maxShortString   = 256
	maxCoalescedKind = 64
	maxAcks          = 64 // commands in a reply, acknowledgements in a heartbeat
)

// Domain-separation prefixes for signatures: a signature made for one kind
// of message never verifies as another.
const (
	domainEnroll      = "casekeep enroll v1\n"
	domainEnrollReply = "casekeep enroll reply v1\n"
	domainHeartbeat   = "casekeep heartbeat v1\n"
	domainReply       = "casekeep reply v1\n"
	domainLease       = "casekeep lease v1\n"
	domainLeaseReply  = "casekeep lease reply v1\n"
)

// Errors, to be told apart with errors.Is.
var (
	ErrMalformed    = errors.New("malformed message")
	ErrVersion      = errors.New("unsupported protocol version")
	ErrTooLarge     = errors.New("message too large")
	ErrBadSignature = errors.New("signature does not verify")
)

// EnrollRequest is what an agent sends to enroll. It is signed with the new
// signing key (SignEnroll), which proves the agent holds it.
type EnrollRequest struct {
	V            int    `json:"v"`
	Token        string `json:"token"`
	SigningKey   []byte `json:"signing_key"` // Ed25519 public key
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	Serial       string `json:"serial,omitempty"` // hardware serial, where it can be read
	User         string `json:"user,omitempty"`   // the logged-in user
	AgentVersion string `json:"agent_version"`
}

// EnrollReply is the server's answer to an enrollment, signed with the
// server key it carries (the agent pins it from then on).
type EnrollReply struct {
	V         int    `json:"v"`
	DeviceID  string `json:"device_id"`
	ServerKey []byte `json:"server_key"` // Ed25519: signs replies and commands
	PolicyKey []byte `json:"policy_key"` // Ed25519: signs policy bundles
	Policy    []byte `json:"policy"`     // the current signed policy bundle
	// Lease is the device's first lease: the key its vault identity is
	// wrapped with from the start, so the identity is never written in
	// plaintext.
	Lease *LeaseGrant `json:"lease,omitempty"`
}

// Heartbeat is what an agent reports. Its exact JSON bytes are signed, sent,
// stored and hashed: the next heartbeat carries that hash as PrevHash, so a
// missing or altered heartbeat breaks the chain.
type Heartbeat struct {
	V            int       `json:"v"`
	DeviceID     string    `json:"device_id"`
	Seq          uint64    `json:"seq"`                 // 1, 2, 3, ... per device
	PrevHash     string    `json:"prev_hash,omitempty"` // hex SHA-256 of heartbeat Seq-1
	CreatedAt    time.Time `json:"created_at"`          // when the agent made it
	AgentVersion string    `json:"agent_version"`
	Policy       PolicyRef `json:"policy"`
	Recipient    string    `json:"recipient,omitempty"` // the device's age recipient
	Posture      []Check   `json:"posture"`
	Vault        Vault     `json:"vault"`
	Storage      Storage   `json:"storage"`
	// Lease is the state of the vault key (one of the Lease constants);
	// OfflineCopy says how the local copy of the lease for the offline
	// window is held (one of the Offline constants).
	Lease       string  `json:"lease"`
	OfflineCopy string  `json:"offline_copy,omitempty"`
	Events      []Event `json:"events"`
	// Acks acknowledges the server's commands the agent has carried out,
	// failed or refused since the last heartbeat.
	Acks      []CommandAck `json:"acks,omitempty"`
	Coalesced []Coalesced  `json:"coalesced,omitempty"` // events counted, not listed (the spool was full)
	Skipped   int          `json:"skipped,omitempty"`   // heartbeats not made while the spool was full
	// Stopping is set on the last heartbeat an agent makes before it stops:
	// why it is stopping (one of the Stop constants). A later heartbeat
	// without it says the agent runs again.
	Stopping string `json:"stopping,omitempty"`
}

// Why an agent stopped, in Heartbeat.Stopping.
const (
	StopService   = "stop"      // the service was stopped (by an administrator, or an upgrade)
	StopShutdown  = "shutdown"  // the computer is shutting down
	StopUninstall = "uninstall" // casekeep is being removed from the computer
)

// PolicyRef names the policy a device runs.
type PolicyRef struct {
	Version int    `json:"version"`
	Hash    string `json:"hash"`
}

// Check is one posture check's result.
type Check struct {
	Name     string `json:"name"`
	Result   string `json:"result"` // pass, fail or unknown
	Evidence string `json:"evidence,omitempty"`
}

// Vault summarises the encrypted cache.
type Vault struct {
	Files     int64       `json:"files"`     // sealed files
	Bytes     int64       `json:"bytes"`     // their plaintext bytes
	Plaintext int64       `json:"plaintext"` // plaintext files waiting to be sealed
	CaseRefs  []CaseCount `json:"case_refs"`
}

// CaseCount is how many sealed files the device holds for a case reference.
type CaseCount struct {
	Ref   string `json:"ref"`
	Files int    `json:"files"`
}

// Storage summarises removable media and sync folders (filled in by the
// storage monitor).
type Storage struct {
	Volumes     int `json:"volumes"`
	Unapproved  int `json:"unapproved"`
	SyncFolders int `json:"sync_folders"`
}

// Event is something that happened on the device. It names a case
// reference at most, never a file or a person.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	CaseRef string    `json:"case_ref,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Coalesced counts events of one type that were not listed one by one.
type Coalesced struct {
	Type  string    `json:"type"`
	Count int       `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// SignedHeartbeat is a heartbeat's exact bytes and their signature.
type SignedHeartbeat struct {
	Body []byte `json:"body"`
	Sig  []byte `json:"sig"`
}

// Batch is the body of a heartbeats request: one device's heartbeats, in
// seq order.
type Batch struct {
	V          int               `json:"v"`
	Heartbeats []SignedHeartbeat `json:"heartbeats"`
	// Nonce is fresh for each request (base64 of 16 random bytes); the
	// reply echoes it, and the agent takes commands only from a reply
	// that does, so no recorded reply can be played to it again.
	Nonce string `json:"nonce,omitempty"`
}

// Reply is the server's answer to a batch, signed with the server key.
type Reply struct {
	V             int       `json:"v"`
	DeviceID      string    `json:"device_id"`
	AckedSeq      uint64    `json:"acked_seq"` // every heartbeat up to this seq is stored
	PolicyVersion int       `json:"policy_version"`
	ServerTime    time.Time `json:"server_time"`
	Nonce         string    `json:"nonce,omitempty"` // the request's Batch.Nonce
	Commands      []Command `json:"commands,omitempty"`
}

// Command is an instruction from the server to one device: lock, unlock
// or wipe (the Command constants). It travels in a signed Reply, is bound
// to its device and ID, and is acknowledged by a CommandAck in a later
// heartbeat.
type Command struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	DeviceID string    `json:"device_id"`
	Issued   time.Time `json:"issued"`  // when it was requested, by the server's clock
	Expires  time.Time `json:"expires"` // not to be carried out after this, by the server's clock
}

// Hash returns the hex SHA-256 of a heartbeat's bytes, as the next
// heartbeat's PrevHash carries it.
func Hash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func sign(priv ed25519.PrivateKey, domain string, body []byte) []byte {
	return ed25519.Sign(priv, append([]byte(domain), body...))
}

func verify(pub ed25519.PublicKey, domain string, body, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(domain), body...), sig) {
		return ErrBadSignature
	}
	return nil
}

// SignEnroll signs an enrollment request body with the new signing key.
func SignEnroll(priv ed25519.PrivateKey, body []byte) []byte { return sign(priv, domainEnroll, body) }

// VerifyEnroll checks an enrollment request's signature.
func VerifyEnroll(pub ed25519.PublicKey, body, sig []byte) error {
	return verify(pub, domainEnroll, body, sig)
}

// SignHeartbeat signs a heartbeat's exact bytes with the device key.
func SignHeartbeat(priv ed25519.PrivateKey, body []byte) []byte {
	return sign(priv, domainHeartbeat, body)
}

// VerifyHeartbeat checks a heartbeat's signature.
func VerifyHeartbeat(pub ed25519.PublicKey, body, sig []byte) error {
	return verify(pub, domainHeartbeat, body, sig)
}

// SignReply signs a heartbeats reply body with the server key.
func SignReply(priv ed25519.PrivateKey, body []byte) []byte { return sign(priv, domainReply, body) }

// VerifyReply checks a heartbeats reply's signature.
func VerifyReply(pub ed25519.PublicKey, body, sig []byte) error {
	return verify(pub, domainReply, body, sig)
}

// SignEnrollReply signs an enrollment reply body with the server key.
func SignEnrollReply(priv ed25519.PrivateKey, body []byte) []byte {
	return sign(priv, domainEnrollReply, body)
}

// VerifyEnrollReply checks an enrollment reply's signature.
func VerifyEnrollReply(pub ed25519.PublicKey, body, sig []byte) error {
	return verify(pub, domainEnrollReply, body, sig)
}

// Clean makes s fit a heartbeat string field of at most n bytes: what may
// not be shown (invalid UTF-8, control and format characters, bidirectional
// overrides among them) becomes a space, and it is cut to n bytes on a
// character boundary (see [printable.Text]). What it returns passes the
// decoders' checks of a field of n bytes.
func Clean(s string, n int) string {
	if n <= 0 {
		return ""
	}
	return printable.Text(s, printable.Options{Replacement: ' ', MaxBytes: n})
}

// Field size limits for the strings of a heartbeat, for Clean.
const (
	MaxString      = maxString
	MaxShortString = maxShortString
)

// Marshal encodes a message as the bytes to send: compact JSON, no HTML
// escaping, with a trailing newline.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeStrict decodes one JSON value with no unknown fields and nothing
// after it.
func decodeStrict(b []byte, v any) error {
	// encoding/json would turn invalid UTF-8 into U+FFFD; JSON must be UTF-8.
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the message", ErrMalformed)
	}
	return nil
}

func checkVersion(v int) error {
	if v < 1 || v > Version {
		return fmt.Errorf("%w %d (this side speaks 1 to %d)", ErrVersion, v, Version)
	}
	return nil
}

// DecodeBatch decodes and checks a heartbeats request body (the signatures
// are checked by the caller, which knows the device's key).
func DecodeBatch(b []byte) (*Batch, error) {
	if len(b) > MaxRequest {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, len(b), MaxRequest)
	}
	var batch Batch
	if err := decodeStrict(b, &batch); err != nil {
		return nil, err
	}
	if err := checkVersion(batch.V); err != nil {
		return nil, err
	}
	switch n := len(batch.Heartbeats); {
	case n == 0:
		return nil, fmt.Errorf("%w: no heartbeats", ErrMalformed)
	case n > MaxBatch:
		return nil, fmt.Errorf("%w: %d heartbeats, over %d", ErrTooLarge, n, MaxBatch)
	}
	if batch.Nonce != "" {
		c := &checker{}
		if c.nonce("nonce", batch.Nonce); c.err != nil {
			return nil, c.err
		}
	}
	for i, h := range batch.Heartbeats {
		if len(h.Body) > MaxHeartbeat {
			return nil, fmt.Errorf("%w: heartbeat %d is %d bytes, over %d", ErrTooLarge, i, len(h.Body), MaxHeartbeat)
		}
		if len(h.Sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: heartbeat %d has no valid signature field", ErrMalformed, i)
		}
	}
	return &batch, nil
}

// DecodeHeartbeat decodes and checks one heartbeat's bytes: a supported
// version, a device ID and seq, and every field within its limits, with
// no control characters in strings.
func DecodeHeartbeat(b []byte) (*Heartbeat, error) {
	if len(b) > MaxHeartbeat {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, len(b), MaxHeartbeat)
	}
	return decodeChecked(b, func(h *Heartbeat) int { return h.V }, checkHeartbeat)
}

func checkHeartbeat(c *checker, h *Heartbeat) {
	c.id("device_id", h.DeviceID)
	if h.Seq == 0 || h.Seq > math.MaxInt64 {
		c.fail("seq must be from 1 to 2^63-1")
	}
	if h.PrevHash != "" {
		if raw, err := hex.DecodeString(h.PrevHash); err != nil || len(raw) != sha256.Size {
			c.fail("prev_hash is not a hex SHA-256")
		}
	} else if h.Seq > 1 {
		c.fail("prev_hash is missing")
	}
	c.time("created_at", h.CreatedAt)
	c.str("agent_version", h.AgentVersion, maxShortString)
	c.str("policy.hash", h.Policy.Hash, maxShortString)
	c.str("recipient", h.Recipient, 4096)
	c.str("lease", h.Lease, maxShortString)
	switch h.OfflineCopy {
	case "", OfflineTPM, OfflineOS, OfflineNone:
	default:
		c.fail("offline_copy is not tpm, os or none")
	}
	if len(h.Acks) > maxAcks {
		c.fail("too many command acknowledgements")
	}
	for _, a := range h.Acks {
		c.ack("acks", a)
	}
	switch h.Stopping {
	case "", StopService, StopShutdown, StopUninstall:
	default:
		c.fail("stopping is not stop, shutdown or uninstall")
	}
	if h.Policy.Version < 0 {
		c.fail("policy.version is negative")
	}
	if len(h.Posture) > 64 {
		c.fail("too many posture checks")
	}
	for _, p := range h.Posture {
		c.str("posture.name", p.Name, maxShortString)
		c.result("posture.result", p.Result)
		c.str("posture.evidence", p.Evidence, maxString)
	}
	if h.Vault.Files < 0 || h.Vault.Bytes < 0 || h.Vault.Plaintext < 0 {
		c.fail("vault counts are negative")
	}
	if len(h.Vault.CaseRefs) > MaxCaseRefs {
		c.fail("too many case references")
	}
	for _, r := range h.Vault.CaseRefs {
		c.str("vault.case_refs.ref", r.Ref, maxShortString)
		if r.Ref == "" || r.Files < 0 {
			c.fail("a case reference is empty or has a negative count")
		}
	}
	if h.Storage.Volumes < 0 || h.Storage.Unapproved < 0 || h.Storage.SyncFolders < 0 {
		c.fail("storage counts are negative")
	}
	if len(h.Events) > MaxEvents {
		c.fail("too many events")
	}
	for _, e := range h.Events {
		c.time("events.time", e.Time)
		c.str("events.type", e.Type, maxShortString)
		c.str("events.case_ref", e.CaseRef, maxShortString)
		c.str("events.detail", e.Detail, maxString)
		if e.Type == "" {
			c.fail("an event has no type")
		}
	}
	if len(h.Coalesced) > maxCoalescedKind {
		c.fail("too many coalesced event types")
	}
	for _, k := range h.Coalesced {
		c.str("coalesced.type", k.Type, maxShortString)
		c.time("coalesced.first", k.First)
		c.time("coalesced.last", k.Last)
		if k.Count < 0 {
			c.fail("a coalesced count is negative")
		}
	}
	if h.Skipped < 0 {
		c.fail("skipped is negative")
	}
}

// DecodeEnrollRequest decodes and checks an enrollment request.
func DecodeEnrollRequest(b []byte) (*EnrollRequest, error) {
	if len(b) > MaxRequest {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	return decodeChecked(b, func(r *EnrollRequest) int { return r.V }, checkEnrollRequest)
}

func checkEnrollRequest(c *checker, r *EnrollRequest) {
	c.str("token", r.Token, maxShortString)
	if len(r.SigningKey) != ed25519.PublicKeySize {
		c.fail("signing_key is not an Ed25519 public key")
	}
	c.str("hostname", r.Hostname, maxShortString)
	c.str("os", r.OS, maxShortString)
	c.str("arch", r.Arch, maxShortString)
	c.str("serial", r.Serial, maxShortString)
	c.str("user", r.User, maxShortString)
	c.str("agent_version", r.AgentVersion, maxShortString)
	if r.Token == "" || r.Hostname == "" {
		c.fail("token and hostname are required")
	}
}

// DecodeEnrollReply decodes and checks an enrollment reply.
func DecodeEnrollReply(b []byte) (*EnrollReply, error) {
	return decodeChecked(b, func(r *EnrollReply) int { return r.V }, func(c *checker, r *EnrollReply) {
		c.id("device_id", r.DeviceID)
		if len(r.ServerKey) != ed25519.PublicKeySize || len(r.PolicyKey) != ed25519.PublicKeySize {
			c.fail("server_key and policy_key must be Ed25519 public keys")
		}
		if r.Lease != nil {
			c.grant("lease", r.Lease)
		}
	})
}

// DecodeReply decodes and checks a heartbeats reply.
func DecodeReply(b []byte) (*Reply, error) {
	return decodeChecked(b, func(r *Reply) int { return r.V }, func(c *checker, r *Reply) {
		c.id("device_id", r.DeviceID)
		if r.Nonce != "" {
			c.nonce("nonce", r.Nonce)
		}
		if len(r.Commands) > maxAcks {
			c.fail("too many commands")
		}
		for _, cmd := range r.Commands {
			c.command("commands", cmd)
		}
	})
}

// decodeChecked decodes one message strictly, checks its version, and runs
// its checks.
func decodeChecked[T any](b []byte, version func(*T) int, check func(*checker, *T)) (*T, error) {
	var m T
	if err := decodeStrict(b, &m); err != nil {
		return nil, err
	}
	if err := checkVersion(version(&m)); err != nil {
		return nil, err
	}
	c := &checker{}
	check(c, &m)
	if c.err != nil {
		return nil, c.err
	}
	return &m, nil
}

// checker collects the first problem with a decoded message.
type checker struct{ err error }

func (c *checker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

// str checks a string is valid UTF-8, within n bytes, with no control
// characters (NUL included), which no field needs and no store should hold.
func (c *checker) str(field, s string, n int) {
	if len(s) > n {
		c.fail("%s is longer than %d bytes", field, n)
		return
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		c.fail("%s holds invalid UTF-8 or control characters", field)
	}
}

// id checks a device ID: "dev_" and 26 base32 characters.
func (c *checker) id(field, s string) {
	if !ValidDeviceID(s) {
		c.fail("%s is not a device ID", field)
	}
}

func (c *checker) result(field, s string) {
	if s != "pass" && s != "fail" && s != "unknown" {
		c.fail("%s must be pass, fail or unknown", field)
	}
}

// time checks a time is set and within reason (years 2000 to 9999, in UTC:
// an offset must not carry it past either end).
func (c *checker) time(field string, t time.Time) {
	if y := t.UTC().Year(); y < 2000 || y > 9999 {
		c.fail("%s is not a plausible time", field)
	}
}

// ValidDeviceID reports whether s has the form of a device ID.
func ValidDeviceID(s string) bool {
	const prefix = "dev_"
	if len(s) != len(prefix)+26 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, r := range s[len(prefix):] {
		if !('a' <= r && r <= 'z' || '2' <= r && r <= '7') {
			return false
		}
	}
	return true
}
