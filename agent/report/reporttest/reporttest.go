package reporttest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/internal/wire"
)

// Server is a fake casekeep server for one device. Its fields are set by
// NewServer and not changed after.
type Server struct {
	// TLS is the server: its URL and the certificate an agent pins.
	TLS *httptest.Server
	// Key signs its replies.
	Key ed25519.PrivateKey
	// DeviceID is the one device it knows.
	DeviceID string

	mu      sync.Mutex
	set     Settings
	got     []*wire.Heartbeat
	sizes   []int
	nonces  []string
	leases  []wire.LeaseRequest
	acks    []wire.CommandAck
	badSigs int
}

// Settings are how the server answers; the test changes them with
// [Server.Set].
type Settings struct {
	// DeviceKey verifies the device's signatures (Enroll sets it).
	DeviceKey ed25519.PublicKey
	// Down makes it answer everything with 503.
	Down bool
	// Acked is how far it holds the device's heartbeats: a heartbeat
	// at or below it is not kept again.
	Acked uint64
	// Commands are sent with every reply until the device acknowledges
	// them.
	Commands []wire.Command
	// BadNonce makes its replies echo another nonce than the batch's.
	BadNonce bool
	// Forge makes it sign its heartbeat replies with another key than
	// the one the device pins.
	Forge bool
	// ClockAhead is how far its clock (ServerTime, a lease's Until) is
	// ahead of this process's: a device's clock set back, seen from the
	// server.
	ClockAhead time.Duration

	// Refuse, if set, refuses the lease with this reason.
	Refuse string
	// Window is the offline window of a lease it serves (its Until is
	// the time plus Window): an hour unless set.
	Window time.Duration
	// KeyID and LeaseKey are the device's lease key ("lk_1" and random
	// bytes unless set); Next, a rotation in progress, is sent with the
	// grant and becomes the lease key when the device asks for it.
	KeyID    string
	LeaseKey []byte
	Next     *wire.NextKey
	// Lease, if set, answers lease requests instead of the server; else
	// NoLeases answers them with 404, as a server without leases.
	Lease    http.HandlerFunc
	NoLeases bool
}

// NewServer starts a fake server for a new device ID, closed at the end of
// the test.
func NewServer(t testing.TB) *Server {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	id, _ := wire.NewDeviceID()
	lk := make([]byte, wire.LeaseKeySize)
	rand.Read(lk)
	s := &Server{Key: key, DeviceID: id, set: Settings{Window: time.Hour, KeyID: "lk_1", LeaseKey: lk}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathHeartbeats, s.serve(s.heartbeats))
	mux.HandleFunc("POST "+wire.PathLease, s.leaseOr(s.serve(s.lease)))
	s.TLS = httptest.NewUnstartedServer(mux)
	s.TLS.Config.ErrorLog = log.New(io.Discard, "", 0) // a child killed mid-handshake is no news
	s.TLS.StartTLS()
	t.Cleanup(s.TLS.Close)
	return s
}

// Set changes the server's settings under its lock.
func (s *Server) Set(f func(*Settings)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.set)
}

// SetDown makes the server answer everything with 503, or stop doing so.
func (s *Server) SetDown(down bool) { s.Set(func(c *Settings) { c.Down = down }) }

// Settings returns the server's settings now.
func (s *Server) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set
}

// Enroll makes a device key, sets its public half as the server's
// DeviceKey, and returns the enrollment an agent would keep for the
// server (its lease unset) with the key.
func (s *Server) Enroll() (*report.Enrollment, ed25519.PrivateKey) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	s.Set(func(c *Settings) { c.DeviceKey = pub })
	return &report.Enrollment{Server: s.TLS.URL, DeviceID: s.DeviceID, ServerKey: s.Key.Public().(ed25519.PublicKey),
		PolicyKey: pub, TLSPin: wire.CertPin(s.TLS.Certificate()), EnrolledAt: time.Now().UTC()}, key
}

// FirstLease is the lease the server gives at enrollment.
func (s *Server) FirstLease() *wire.LeaseGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &wire.LeaseGrant{KeyID: s.set.KeyID, Key: slices.Clone(s.set.LeaseKey), Until: time.Now().Add(s.set.Window)}
}

// Command is a command of type typ for the server's device, with the ID
// id, issued now and expiring after ttl.
func (s *Server) Command(id, typ string, ttl time.Duration) wire.Command {
	now := time.Now().UTC()
	return wire.Command{ID: id, Type: typ, DeviceID: s.DeviceID, Issued: now, Expires: now.Add(ttl)}
}

// serve reads a request's body and answers it with h under the lock,
// unless the server is down.
func (s *Server) serve(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.set.Down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h(w, r, body)
	}
}

// leaseOr answers a lease request with the test's Lease handler if it set
// one, else 404 if NoLeases, else with own.
func (s *Server) leaseOr(own http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		other, none := s.set.Lease, s.set.NoLeases
		s.mu.Unlock()
		switch {
		case other != nil:
			other(w, r)
		case none:
			http.NotFound(w, r)
		default:
			own(w, r)
		}
	}
}

func (s *Server) heartbeats(w http.ResponseWriter, r *http.Request, body []byte) {
	s.sizes = append(s.sizes, len(body))
	batch, err := wire.DecodeBatch(body)
	if err != nil {
		status := http.StatusBadRequest
		if len(body) > wire.MaxRequest {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), status)
		return
	}
	status := http.StatusConflict
	for _, sh := range batch.Heartbeats {
		h, err := wire.DecodeHeartbeat(sh.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if wire.VerifyHeartbeat(s.set.DeviceKey, sh.Body, sh.Sig) != nil {
			s.badSigs++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if h.Seq > s.set.Acked {
			s.got = append(s.got, h)
			s.set.Acked = h.Seq
			status = http.StatusOK
			for _, a := range h.Acks {
				s.acks = append(s.acks, a)
				s.set.Commands = slices.DeleteFunc(s.set.Commands, func(c wire.Command) bool { return c.ID == a.ID })
			}
		}
	}
	s.nonces = append(s.nonces, batch.Nonce)
	nonce := batch.Nonce
	if s.set.BadNonce {
		nonce = wire.NewNonce()
	}
	reply, _ := wire.Marshal(wire.Reply{V: 1, DeviceID: s.DeviceID, AckedSeq: s.set.Acked, PolicyVersion: 1, ServerTime: time.Now().Add(s.set.ClockAhead).UTC(),
		Nonce: nonce, Commands: s.set.Commands})
	signer := s.Key
	if s.set.Forge {
		_, signer, _ = ed25519.GenerateKey(rand.Reader)
	}
	w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignReply(signer, reply)))
	w.WriteHeader(status)
	w.Write(reply)
}

func (s *Server) lease(w http.ResponseWriter, r *http.Request, body []byte) {
	sig, _ := base64.StdEncoding.DecodeString(r.Header.Get(wire.SignatureHeader))
	if wire.VerifyLease(s.set.DeviceKey, body, sig) != nil {
		s.badSigs++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	req, err := wire.DecodeLeaseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.leases = append(s.leases, *req)
	c := &s.set
	if c.Next != nil && req.KeyID == c.Next.KeyID {
		c.KeyID, c.LeaseKey, c.Next = c.Next.KeyID, c.Next.Key, nil // the rotation is done
	}
	now := time.Now().Add(c.ClockAhead).UTC()
	reply := wire.LeaseReply{V: 1, DeviceID: s.DeviceID, Nonce: req.Nonce, ServerTime: now}
	if c.Refuse != "" {
		reply.Refused = c.Refuse
	} else {
		g := &wire.LeaseGrant{KeyID: c.KeyID, Until: now.Add(c.Window), Next: c.Next}
		if req.Want == wire.WantKey {
			g.Key = c.LeaseKey
		}
		reply.Grant = g
	}
	rb, _ := wire.Marshal(reply)
	w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignLeaseReply(s.Key, rb)))
	w.Write(rb)
}

// Received returns the heartbeats the server has kept, oldest first.
func (s *Server) Received() []*wire.Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// Last returns the newest heartbeat kept (nil if none).
func (s *Server) Last() *wire.Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return nil
	}
	return s.got[len(s.got)-1]
}

// Sizes returns the sizes of the heartbeat requests' bodies, in bytes.
func (s *Server) Sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

// Nonces returns the nonces of the batches of heartbeats received.
func (s *Server) Nonces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.nonces)
}

// LeaseRequests returns the lease requests the server has answered itself.
func (s *Server) LeaseRequests() []wire.LeaseRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.leases)
}

// Acks returns the acknowledgements of the command id received.
func (s *Server) Acks(id string) []wire.CommandAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.CommandAck
	for _, a := range s.acks {
		if a.ID == id {
			out = append(out, a)
		}
	}
	return out
}

// BadSignatures counts the heartbeats and lease requests refused for a
// signature that did not verify.
func (s *Server) BadSignatures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badSigs
}
