package report

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// Files in the agent's state folder.
const (
	EnrollmentFile = "enrollment.json"
	SigningKeyFile = "device-signing.key"
	PolicyFile     = "policy.bundle"
)

// ErrNotEnrolled is returned by [LoadEnrollment] before the agent enrolls.
var ErrNotEnrolled = errors.New("this device is not enrolled (casekeep enroll --server URL --token TOKEN)")

// Enrollment is what the agent keeps from enrolling: where its server is,
// who it is there, and the keys it pinned.
type Enrollment struct {
	Server     string    `json:"server"` // base URL, https://host:port
	DeviceID   string    `json:"device_id"`
	ServerKey  []byte    `json:"server_key"` // verifies replies and commands
	PolicyKey  []byte    `json:"policy_key"` // verifies policy bundles
	TLSPin     []byte    `json:"tls_pin"`    // SHA-256 of the server certificate's public key
	EnrolledAt time.Time `json:"enrolled_at"`

	// Lease is the first lease, from the enrollment reply: the key the
	// new device identity is wrapped with. It is kept in memory only,
	// never saved: the caller makes the identity with it at once (see
	// package keys' Create) and then forgets it ([Enrollment.ForgetLease]).
	// It is nil after LoadEnrollment, and when the server sent none.
	Lease *wire.LeaseGrant `json:"-"`
}

// ForgetLease zeroes and drops the first lease, once the identity is made.
func (e *Enrollment) ForgetLease() {
	e.Lease.Zero()
	e.Lease = nil
}

// HostInfo describes the device at enrollment.
type HostInfo struct {
	Hostname, OS, Arch, Serial, User, AgentVersion string
}

// LoadEnrollment reads the enrollment from the state folder dir.
func LoadEnrollment(dir string) (*Enrollment, error) {
	b, err := os.ReadFile(filepath.Join(dir, EnrollmentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, err
	}
	var e Enrollment
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", EnrollmentFile, err)
	}
	if !wire.ValidDeviceID(e.DeviceID) || len(e.ServerKey) != ed25519.PublicKeySize ||
		len(e.PolicyKey) != ed25519.PublicKeySize || len(e.TLSPin) != 32 {
		return nil, fmt.Errorf("%s is damaged: enroll again", EnrollmentFile)
	}
	return &e, nil
}

// LoadSigningKey reads the device signing key from the state folder dir.
func LoadSigningKey(dir string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, SigningKeyFile))
	if err != nil {
		return nil, err
	}
	return policy.ParsePrivateKey(b)
}

// LoadPolicy reads and verifies the policy in force from the state folder.
func (e *Enrollment) LoadPolicy(dir string) (*policy.Policy, error) {
	b, err := os.ReadFile(filepath.Join(dir, PolicyFile))
	if err != nil {
		return nil, err
	}
	return policy.Verify(b, e.PolicyKey, 0)
}

// SavePolicy verifies a new policy bundle against the pinned policy key
// and the version in force (which it must exceed) and makes it the one in
// force.
func (e *Enrollment) SavePolicy(dir string, bundle []byte, inForce int) (*policy.Policy, error) {
	p, err := policy.Verify(bundle, e.PolicyKey, inForce)
	if err != nil {
		return nil, err
	}
	return p, atomicfile.WriteFile(filepath.Join(dir, PolicyFile), bundle, 0o600)
}

// Client returns an HTTP client that talks only to the pinned server.
func (e *Enrollment) Client() *http.Client { return pinnedClient(e.TLSPin) }

// pinnedClient talks only to the server whose certificate key hashes to
// pin, and follows no redirects (which could lead elsewhere).
func pinnedClient(pin []byte) *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: wire.PinnedTLS(pin), MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// enrollTimeout is how long one enrollment attempt may take.
const enrollTimeout = time.Minute

// Enroll enrolls this device with the server at serverURL using token, and
// keeps the result in the state folder dir, which it prepares (creates and
// makes private, as state.Prepare does): the device signing key, the
// enrollment (device ID and pinned keys) and the signed policy, verified
// against the policy key the server names. The first lease the server
// gives, if any, is returned in the Enrollment's Lease, in memory only. The token must carry the
// server's certificate pin, and the server must match it from the first
// connection; its key is pinned from then on. It gives up after a minute.
func Enroll(ctx context.Context, serverURL, token string, info HostInfo, dir string) (*Enrollment, *policy.Policy, error) {
	if _, err := LoadEnrollment(dir); err == nil {
		return nil, nil, fmt.Errorf("this device is already enrolled (%s in %s); remove it to enroll again", EnrollmentFile, dir)
	}
	base, err := url.Parse(serverURL)
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, nil, fmt.Errorf("the server URL %q must be https://host[:port]", serverURL)
	}
	_, pin, err := wire.ParseToken(token)
	if err != nil {
		return nil, nil, err
	}
	if pin == nil {
		// Without a pin the first connection would trust whatever the
		// system trusts (a TLS-inspecting proxy included), and take the
		// policy key, and so the escrow keys, from it.
		return nil, nil, fmt.Errorf("%w: it carries no certificate pin (make one with casekeep-server token create)", wire.ErrToken)
	}
	if err := state.Prepare(dir); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	priv, err := signingKey(dir)
	if err != nil {
		return nil, nil, err
	}
	client := pinnedClient(pin)

	body, err := wire.Marshal(wire.EnrollRequest{
		V: wire.Version, Token: token, SigningKey: priv.Public().(ed25519.PublicKey),
		Hostname: info.Hostname, OS: info.OS, Arch: info.Arch, Serial: info.Serial, User: info.User, AgentVersion: info.AgentVersion,
	})
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath(wire.PathEnroll).String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignEnroll(priv, body)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("enrolling with %s: %w", serverURL, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxRequest))
	if err != nil {
		return nil, nil, err
	}
	defer clear(rb) // it holds the first lease key, in base64
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("the server refused the enrollment (%s): %s", resp.Status, bytes.TrimSpace(rb))
	}
	reply, err := wire.DecodeEnrollReply(rb)
	if err != nil {
		return nil, nil, err
	}
	sig, _ := base64.StdEncoding.DecodeString(resp.Header.Get(wire.SignatureHeader))
	if err := wire.VerifyEnrollReply(reply.ServerKey, rb, sig); err != nil {
		return nil, nil, fmt.Errorf("the enrollment reply is not signed by the server key it names: %w", err)
	}
	e := &Enrollment{
		Server: base.String(), DeviceID: reply.DeviceID, ServerKey: reply.ServerKey,
		PolicyKey: reply.PolicyKey, TLSPin: pin, EnrolledAt: time.Now().UTC(),
	}
	if l := reply.Lease; l != nil && len(l.Key) == wire.LeaseKeySize {
		e.Lease = l
	} else {
		l.Zero()
	}
	// Heartbeats spooled under an earlier enrollment belong to another
	// device ID: they could never be delivered.
	if err := reset(state.OpenStore(dir, 10*time.Second)); err != nil {
		return nil, nil, err
	}
	p, err := e.SavePolicy(dir, reply.Policy, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's policy does not verify: %w", err)
	}
	eb, _ := json.MarshalIndent(e, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, EnrollmentFile), eb, 0o600); err != nil {
		return nil, nil, err
	}
	return e, p, nil
}

// signingKey loads the device signing key, or makes one on first use.
func signingKey(dir string) (ed25519.PrivateKey, error) {
	priv, err := LoadSigningKey(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return priv, err
	}
	_, priv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.CreateNew(filepath.Join(dir, SigningKeyFile), policy.MarshalPrivateKey(priv), 0o600); err != nil {
		return nil, err
	}
	return priv, nil
}
