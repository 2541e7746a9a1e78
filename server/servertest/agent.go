package servertest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// Agent is a device speaking the agent protocol by hand, for tests of
// what the server answers it: enrolled with its own signing key, it sends
// what it is told to, signed or not, and checks the signature of every
// reply the server signs.
type Agent struct {
	r *Rig
	// ID is the device's ID, Key its signing key.
	ID  string
	Key ed25519.PrivateKey
	// Enrolled is the server's enrollment reply, with the first lease.
	Enrolled *wire.EnrollReply
	seq      uint64
	prev     string
}

// Agent enrolls a device named hostname with a one-use token.
func (r *Rig) Agent(hostname string) *Agent {
	r.T.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		r.T.Fatal(err)
	}
	body, err := wire.Marshal(wire.EnrollRequest{V: wire.Version, Token: r.EnrollToken(1, time.Hour), SigningKey: key.Public().(ed25519.PublicKey),
		Hostname: hostname, OS: "linux", Arch: "amd64", User: "ann", AgentVersion: "test"})
	if err != nil {
		r.T.Fatal(err)
	}
	a := &Agent{r: r, Key: key}
	code, reply, hdr := a.Post(wire.PathEnroll, body, wire.SignEnroll(key, body))
	if code != http.StatusOK {
		r.T.Fatalf("enrolling %s: %d %s", hostname, code, reply)
	}
	a.verify(reply, hdr, wire.VerifyEnrollReply)
	if a.Enrolled, err = wire.DecodeEnrollReply(reply); err != nil {
		r.T.Fatal(err)
	}
	a.ID = a.Enrolled.DeviceID
	return a
}

// Post sends body to the rig at path with sig (nil: none) in
// wire.SignatureHeader, and returns the status, the body and the headers
// of the answer.
func (a *Agent) Post(path string, body, sig []byte) (int, []byte, http.Header) {
	a.r.T.Helper()
	req, err := http.NewRequest(http.MethodPost, a.r.URL+path, bytes.NewReader(body))
	if err != nil {
		a.r.T.Fatal(err)
	}
	if sig != nil {
		req.Header.Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	}
	resp, err := a.r.Client().Do(req)
	if err != nil {
		a.r.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.r.T.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// verify checks a reply's signature with the rig's server key.
func (a *Agent) verify(body []byte, hdr http.Header, verify func(ed25519.PublicKey, []byte, []byte) error) {
	a.r.T.Helper()
	sig, err := base64.StdEncoding.DecodeString(hdr.Get(wire.SignatureHeader))
	if err != nil || verify(a.r.Key.Public().(ed25519.PublicKey), body, sig) != nil {
		a.r.T.Fatalf("the reply is not signed by the server key: %s", body)
	}
}

// LeaseRequest is a request for the device's lease wanting want (wire.WantKey
// or wire.WantRenew) for the key keyID, with a fresh nonce.
func (a *Agent) LeaseRequest(want, keyID string) wire.LeaseRequest {
	return wire.LeaseRequest{V: wire.Version, DeviceID: a.ID, Nonce: wire.NewNonce(), Time: time.Now().UTC(), KeyID: keyID, Want: want}
}

// Lease sends req signed with the device's key, and returns the status
// and, for a 200, the reply (its signature checked, its nonce req's).
func (a *Agent) Lease(req wire.LeaseRequest) (int, *wire.LeaseReply) {
	a.r.T.Helper()
	body, err := wire.Marshal(req)
	if err != nil {
		a.r.T.Fatal(err)
	}
	code, b, hdr := a.Post(wire.PathLease, body, wire.SignLease(a.Key, body))
	if code != http.StatusOK {
		return code, nil
	}
	a.verify(b, hdr, wire.VerifyLeaseReply)
	reply, err := wire.DecodeLeaseReply(b)
	if err != nil {
		a.r.T.Fatal(err)
	}
	if reply.Nonce != req.Nonce || reply.DeviceID != a.ID {
		a.r.T.Fatalf("a lease reply for %s nonce %s, to %s nonce %s", reply.DeviceID, reply.Nonce, a.ID, req.Nonce)
	}
	return code, reply
}

// Heartbeat sends the device's next heartbeat (tune, if not nil, changes
// it) in a batch with nonce, and returns the status and the reply, its
// signature checked.
func (a *Agent) Heartbeat(nonce string, tune func(*wire.Heartbeat)) (int, *wire.Reply) {
	a.r.T.Helper()
	a.seq++
	h := wire.Heartbeat{V: wire.Version, DeviceID: a.ID, Seq: a.seq, PrevHash: a.prev, CreatedAt: time.Now().UTC(), AgentVersion: "test",
		Policy: wire.PolicyRef{Version: a.r.Policy.Version}, Posture: []wire.Check{{Name: "disk_encryption", Result: "pass"}},
		Lease: wire.LeaseUnlocked, OfflineCopy: wire.OfflineTPM}
	if tune != nil {
		tune(&h)
	}
	body, err := wire.Marshal(h)
	if err != nil {
		a.r.T.Fatal(err)
	}
	batch, err := wire.Marshal(wire.Batch{V: wire.Version, Nonce: nonce, Heartbeats: []wire.SignedHeartbeat{{Body: body, Sig: wire.SignHeartbeat(a.Key, body)}}})
	if err != nil {
		a.r.T.Fatal(err)
	}
	code, b, hdr := a.Post(wire.PathHeartbeats, batch, nil)
	if code != http.StatusOK && code != http.StatusConflict {
		a.seq--
		return code, nil
	}
	a.prev = wire.Hash(body)
	a.verify(b, hdr, wire.VerifyReply)
	reply, err := wire.DecodeReply(b)
	if err != nil {
		a.r.T.Fatal(err)
	}
	return code, reply
}
