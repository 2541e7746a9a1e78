package report

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// ErrNoLeases is returned by [Enrollment.RequestLease] when the server
// answers 404 Not Found: a server older than leases, or a proxy in the
// way. It is not a refusal (only a signed reply refuses): the agent takes
// it as the server unreachable, and asks again.
var ErrNoLeases = errors.New("the server does not serve leases")

// Lease is the server's answer to a lease request, verified: a grant, or
// the reason it refused (one of the wire.Refused constants).
type Lease struct {
	Grant      *wire.LeaseGrant // nil when refused
	Refused    string
	ServerTime time.Time
}

// RequestLease asks the server for this device's lease (want is
// wire.WantKey or wire.WantRenew; keyID names the key the wrapped identity
// needs, "" if it has none yet) over client (nil: the pinned client), in a
// request signed with the device signing key. The server's answer must be
// a LeaseReply signed by the pinned server key, for this device, echoing
// the request's fresh nonce: 200 OK for a grant and for a refusal (a 403
// carrying a signed refusal is taken too). Any other answer is an error: a
// 409 (the server saw the nonce before), a 5xx, an unsigned body, one for
// another device or another request; 404 is [ErrNoLeases].
func (e *Enrollment) RequestLease(ctx context.Context, client *http.Client, key ed25519.PrivateKey, want, keyID string, now time.Time) (Lease, error) {
	if client == nil {
		client = e.Client()
	}
	base, err := url.Parse(e.Server)
	if err != nil {
		return Lease{}, err
	}
	nonce := wire.NewNonce()
	body, err := wire.Marshal(wire.LeaseRequest{V: wire.Version, DeviceID: e.DeviceID, Nonce: nonce, Time: now.UTC(), KeyID: keyID, Want: want})
	if err != nil {
		return Lease{}, err
	}
	if _, err := wire.DecodeLeaseRequest(body); err != nil {
		return Lease{}, fmt.Errorf("the lease request would be refused: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath(wire.PathLease).String(), bytes.NewReader(body))
	if err != nil {
		return Lease{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignLease(key, body)))
	resp, err := client.Do(req)
	if err != nil {
		return Lease{}, err
	}
	defer resp.Body.Close()
	// The body holds the lease key (in base64): read into one buffer,
	// zeroed on return, not one grown by copies left in the heap.
	rb, err := readZeroable(resp.Body, maxLeaseReply)
	defer clear(rb[:cap(rb)])
	if leaseBodyHook != nil {
		leaseBodyHook(rb)
	}
	if err != nil {
		return Lease{}, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusForbidden:
	case http.StatusNotFound:
		return Lease{}, ErrNoLeases
	default:
		return Lease{}, fmt.Errorf("the server answered the lease request %s: %s", resp.Status, wire.Clean(string(bytes.TrimSpace(rb)), wire.MaxShortString))
	}
	sig, _ := base64.StdEncoding.DecodeString(resp.Header.Get(wire.SignatureHeader))
	if err := wire.VerifyLeaseReply(e.ServerKey, rb, sig); err != nil {
		if resp.StatusCode == http.StatusForbidden {
			return Lease{}, fmt.Errorf("the server answered the lease request %s: %s", resp.Status, wire.Clean(string(bytes.TrimSpace(rb)), wire.MaxShortString))
		}
		return Lease{}, fmt.Errorf("the lease reply is not signed by the pinned server key: %w", err)
	}
	reply, err := wire.DecodeLeaseReply(rb)
	if err != nil {
		return Lease{}, err
	}
	switch {
	case reply.DeviceID != e.DeviceID:
		return Lease{}, fmt.Errorf("the lease reply is for device %s, not this one", reply.DeviceID)
	case reply.Nonce != nonce:
		return Lease{}, errors.New("the lease reply does not answer this request (its nonce differs): a replay?")
	case resp.StatusCode == http.StatusForbidden && reply.Grant != nil:
		return Lease{}, errors.New("the server answered 403 with a grant")
	}
	return Lease{Grant: reply.Grant, Refused: reply.Refused, ServerTime: reply.ServerTime}, nil
}

// maxLeaseReply bounds a lease reply read (wire refuses one over 16 KiB).
const maxLeaseReply = 64 << 10

// leaseBodyHook, when a test sets it, is given the buffer a lease reply
// was read into, to check that it is zeroed after.
var leaseBodyHook func(rb []byte)

// readZeroable reads r, up to max bytes (more is an error), into a single
// buffer the caller can zero (its whole capacity): no partial copies are
// left behind by growing it.
func readZeroable(r io.Reader, max int) ([]byte, error) {
	buf := make([]byte, max+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return buf[:n], fmt.Errorf("%w: a lease reply over %d bytes", wire.ErrTooLarge, max)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n], nil
	}
	return buf[:n], err
}

// RequestLease asks the server for the device's lease, as
// [Enrollment.RequestLease] does, over the reporter's connection.
func (r *Reporter) RequestLease(ctx context.Context, want, keyID string) (Lease, error) {
	return r.cfg.Enrollment.RequestLease(ctx, r.cfg.Client, r.cfg.Key, want, keyID, r.cfg.Now())
}
