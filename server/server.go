package server

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server/store"
)

// Config is what a server needs. Store, Key and PolicyKey are required.
type Config struct {
	Store     store.Store
	Key       ed25519.PrivateKey // signs replies; agents pin its public half
	PolicyKey ed25519.PublicKey  // the policy key agents pin at enrollment
	Logger    *slog.Logger
	Now       func() time.Time
	// Writers is how many store transactions may run at once (default 1,
	// right for SQLite's single writer; PostgreSQL takes more).
	Writers int
	// BatchWait is how long the ingester waits to gather heartbeats from
	// several requests into one transaction (default 2ms).
	BatchWait time.Duration
	// BatchSize bounds the heartbeats in one transaction (default 500).
	BatchSize int
	// Retention is how long the exact bytes of heartbeats are kept
	// (default 90 days); the compact history is kept for good.
	Retention time.Duration
	// LeaseBurst and LeaseEvery rate-limit each device's lease requests:
	// LeaseBurst at once (default 10), then one every LeaseEvery (default
	// 30s); past that a request is answered 429 with Retry-After, and
	// neither served nor logged.
	LeaseBurst int
	LeaseEvery time.Duration
}

// Server is casekeep's central endpoint for agents.
type Server struct {
	cfg    Config
	log    *slog.Logger
	jobs   chan *job
	closed chan struct{} // closed when Run returns
	enroll chan struct{} // a slot per enrollment in progress

	leases *limiter // lease requests, per device

	mu      sync.Mutex
	devices map[string]deviceEntry // signing keys, cached
	pol     *cachedPolicy
}

type deviceEntry struct {
	key     ed25519.PublicKey
	revoked bool
	at      time.Time // when cached
}

type cachedPolicy struct {
	version int
	bundle  []byte
	p       *policy.Policy
	at      time.Time
}

// How long cached device keys and the policy are trusted before the store
// is asked again (a revocation takes effect within this, and at once in the
// store's own check).
const cacheFor = 30 * time.Second

// maxEnrolling bounds the enrollments touching the store at once: each
// spends a token in a write transaction, and a flood of bogus ones must not
// crowd out heartbeats.
const maxEnrolling = 2

// New makes a server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || len(cfg.Key) != ed25519.PrivateKeySize || len(cfg.PolicyKey) != ed25519.PublicKeySize {
		return nil, errors.New("server: Store, Key and PolicyKey are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 1
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 2 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 90 * 24 * time.Hour
	}
	if cfg.LeaseBurst <= 0 {
		cfg.LeaseBurst = 10
	}
	if cfg.LeaseEvery <= 0 {
		cfg.LeaseEvery = 30 * time.Second
	}
	return &Server{cfg: cfg, log: cfg.Logger, jobs: make(chan *job, 4096), closed: make(chan struct{}),
		enroll: make(chan struct{}, maxEnrolling), devices: map[string]deviceEntry{},
		leases: newLimiter(cfg.LeaseBurst, cfg.LeaseEvery)}, nil
}

// Run runs the ingest writers and the retention pruning until ctx is done.
// Requests made after it returns fail with 503. Run may be called once: to
// serve again, make a new Server.
func (s *Server) Run(ctx context.Context) error {
	defer close(s.closed)
	var wg sync.WaitGroup
	for range s.cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.writer(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.prune(ctx)
	}()
	wg.Wait()
	return nil
}

// Store returns the server's store.
func (s *Server) Store() store.Store { return s.cfg.Store }

// Handler returns the HTTP handler for the agent endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathEnroll, s.enrollHandler)
	mux.HandleFunc("POST "+wire.PathHeartbeats, s.heartbeats)
	mux.HandleFunc("GET "+wire.PathPolicy, s.policy)
	mux.HandleFunc("POST "+wire.PathLease, s.lease)
	return mux
}

// httpError is an error with the status to answer it with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusServiceUnavailable, "the server cannot store this now; try again later"}
	}
	http.Error(w, he.msg, he.status)
}

// readBody reads a request body of at most wire.MaxRequest bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > wire.MaxRequest {
		return nil, fail(http.StatusRequestEntityTooLarge, "request body is %d bytes; the limit is %d", r.ContentLength, wire.MaxRequest)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxRequest))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fail(http.StatusRequestEntityTooLarge, "request body is over the limit of %d bytes", wire.MaxRequest)
	}
	if err != nil {
		return nil, fail(http.StatusBadRequest, "reading the request: %v", err)
	}
	return b, nil
}

// reply writes a reply signed with sign (wire.SignReply or
// wire.SignEnrollReply, whose domains differ).
func (s *Server) reply(w http.ResponseWriter, status int, v any, sign func(ed25519.PrivateKey, []byte) []byte) {
	body, err := wire.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the reply failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(sign(s.cfg.Key, body)))
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) enrollHandler(w http.ResponseWriter, r *http.Request) {
	select {
	case s.enroll <- struct{}{}:
		defer func() { <-s.enroll }()
	case <-time.After(5 * time.Second):
		s.writeError(w, r, fail(http.StatusServiceUnavailable, "too many enrollments at once; try again shortly"))
		return
	case <-r.Context().Done():
		return
	}
	if err := s.doEnroll(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) doEnroll(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, err := wire.DecodeEnrollRequest(body)
	if err != nil {
		return fail(http.StatusBadRequest, "%v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(wire.SignatureHeader))
	if err != nil || wire.VerifyEnroll(req.SigningKey, body, sig) != nil {
		return fail(http.StatusUnauthorized, "the enrollment request is not signed by the key it offers")
	}
	hash, _, err := wire.ParseToken(req.Token)
	if err != nil {
		return fail(http.StatusForbidden, "%v", store.ErrTokenUnknown)
	}
	pol, err := s.currentPolicy(r.Context())
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	if err := s.cfg.Store.UseToken(r.Context(), hash, now); err != nil {
		if errors.Is(err, store.ErrTokenUnknown) || errors.Is(err, store.ErrTokenExpired) || errors.Is(err, store.ErrTokenUsedUp) {
			return fail(http.StatusForbidden, "%v", err)
		}
		return err
	}
	id, err := wire.NewDeviceID()
	if err != nil {
		return err
	}
	err = s.cfg.Store.CreateDevice(r.Context(), store.Device{
		ID: id, SigningKey: req.SigningKey, Hostname: req.Hostname, OS: req.OS, Arch: req.Arch,
		Serial: req.Serial, User: req.User, AgentVersion: req.AgentVersion, EnrolledAt: now,
	})
	if err != nil {
		return err
	}
	// The first lease, made and served now, so that the agent wraps its
	// identity from the start and never writes it in plaintext.
	res, err := s.cfg.Store.ServeLeases(r.Context(), []store.LeaseRequest{{DeviceID: id, Kind: store.LeaseKindEnroll, At: now,
		Window: pol.p.Offline.UnlockWindow, Source: r.RemoteAddr}})
	if err != nil {
		return err
	}
	if res[0].Outcome != store.LeaseServed {
		return fmt.Errorf("the new device %s was not served its first lease: %v %s %v", id, res[0].Outcome, res[0].Record.Refused, res[0].Err)
	}
	s.log.Info("device enrolled", "device", id, "hostname", req.Hostname, "user", req.User, "os", req.OS, "lease_key", res[0].Record.KeyID)
	s.reply(w, http.StatusOK, wire.EnrollReply{
		V: wire.Version, DeviceID: id, ServerKey: s.cfg.Key.Public().(ed25519.PublicKey),
		PolicyKey: s.cfg.PolicyKey, Policy: pol.bundle, Lease: grant(res[0]),
	}, wire.SignEnrollReply)
	return nil
}

// Policy returns the policy in force: the stored bundle, verified against
// the policy key, cached for a while.
func (s *Server) Policy(ctx context.Context) (*policy.Policy, error) {
	c, err := s.currentPolicy(ctx)
	if err != nil {
		return nil, err
	}
	return c.p, nil
}

// currentPolicy returns the stored policy, cached for a while.
func (s *Server) currentPolicy(ctx context.Context) (*cachedPolicy, error) {
	s.mu.Lock()
	c := s.pol
	s.mu.Unlock()
	if c != nil && s.cfg.Now().Sub(c.at) < cacheFor {
		return c, nil
	}
	version, bundle, err := s.cfg.Store.Policy(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(http.StatusServiceUnavailable, "no policy has been published to this server yet")
	}
	if err != nil {
		return nil, err
	}
	p, err := policy.Verify(bundle, s.cfg.PolicyKey, 0)
	if err != nil {
		return nil, fmt.Errorf("the stored policy does not verify against the policy key: %w", err)
	}
	c = &cachedPolicy{version: version, bundle: bundle, p: p, at: s.cfg.Now()}
	s.mu.Lock()
	s.pol = c
	s.mu.Unlock()
	return c, nil
}

func (s *Server) policy(w http.ResponseWriter, r *http.Request) {
	pol, err := s.currentPolicy(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(pol.bundle)
}

// device returns a device's signing key, from the cache or the store.
func (s *Server) device(ctx context.Context, id string) (deviceEntry, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	e, ok := s.devices[id]
	s.mu.Unlock()
	if ok && now.Sub(e.at) < cacheFor {
		return e, nil
	}
	row, err := s.cfg.Store.Device(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return deviceEntry{}, fail(http.StatusForbidden, "unknown device %s", id)
	}
	if err != nil {
		return deviceEntry{}, err
	}
	e = deviceEntry{key: row.SigningKey, revoked: !row.RevokedAt.IsZero(), at: now}
	s.mu.Lock()
	s.devices[id] = e
	s.mu.Unlock()
	return e, nil
}

func (s *Server) heartbeats(w http.ResponseWriter, r *http.Request) {
	if err := s.doHeartbeats(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) doHeartbeats(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	batch, err := wire.DecodeBatch(body)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, wire.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		return fail(status, "%v", err)
	}
	received := s.cfg.Now()
	hbs := make([]store.Heartbeat, 0, len(batch.Heartbeats))
	var deviceID string
	var dev deviceEntry
	pol, err := s.currentPolicy(r.Context())
	if err != nil {
		return err
	}
	for i, sh := range batch.Heartbeats {
		h, err := wire.DecodeHeartbeat(sh.Body)
		if err != nil {
			return fail(http.StatusBadRequest, "heartbeat %d: %v", i, err)
		}
		if i == 0 {
			deviceID = h.DeviceID
			if dev, err = s.device(r.Context(), deviceID); err != nil {
				return err
			}
			if dev.revoked {
				return fail(http.StatusForbidden, "device %s is revoked", deviceID)
			}
		} else if h.DeviceID != deviceID {
			return fail(http.StatusBadRequest, "heartbeat %d is for another device than heartbeat 0", i)
		}
		if err := wire.VerifyHeartbeat(dev.key, sh.Body, sh.Sig); err != nil {
			return fail(http.StatusUnauthorized, "heartbeat %d: the signature does not verify with device %s's key", i, deviceID)
		}
		hbs = append(hbs, toStore(h, sh.Body, received, pol.p))
	}
	slices.SortStableFunc(hbs, func(a, b store.Heartbeat) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	outcomes, err := s.ingest(r.Context(), hbs)
	if errors.Is(err, store.ErrInvalid) {
		return fail(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	acked, stored := uint64(0), 0
	for _, o := range outcomes {
		switch o.Result {
		case store.Unknown:
			return fail(http.StatusForbidden, "unknown device %s", deviceID)
		case store.Revoked:
			return fail(http.StatusForbidden, "device %s is revoked", deviceID)
		case store.Accepted, store.Gap:
			stored++
		}
		acked = max(acked, o.LastSeq)
	}
	status := http.StatusOK
	if stored == 0 {
		status = http.StatusConflict // every one a replay: nothing stored; the ack says how far we have
	}
	now := s.cfg.Now().UTC()
	var cmds []wire.Command
	if stored > 0 {
		// Only a batch that stored a heartbeat gets the commands (and
		// marks them delivered): a replayed one may be a stale copy the
		// agent no longer waits for, and "delivered" must mean a reply
		// the agent takes.
		cmds = s.commands(r.Context(), deviceID, now)
	}
	s.reply(w, status, wire.Reply{
		V: wire.Version, DeviceID: deviceID, AckedSeq: acked, PolicyVersion: pol.version, ServerTime: now,
		Nonce: batch.Nonce, Commands: cmds,
	}, wire.SignReply)
	return nil
}

// maxCommands is how many commands a reply carries at most (the protocol's
// limit).
const maxCommands = 64

// commands returns the device's pending commands for a reply, marking
// them delivered. If the store cannot say, the reply goes without them
// (the heartbeats are stored: the agent must hear so) and they go with a
// later one.
func (s *Server) commands(ctx context.Context, deviceID string, now time.Time) []wire.Command {
	cs, err := s.cfg.Store.DeliverCommands(ctx, deviceID, now, maxCommands)
	if err != nil {
		s.log.Error("reading the commands for a device failed; the reply goes without them", "device", deviceID, "err", err)
		return nil
	}
	var out []wire.Command
	for _, c := range cs {
		exp := c.Expires
		if exp.IsZero() {
			// A wipe never expires in the store; the agent is told to
			// carry it out within a day of this reply's time.
			exp = now.Add(neverExpiresOffer)
		}
		out = append(out, wire.Command{ID: c.ID, Type: c.Type, DeviceID: c.DeviceID, Issued: c.RequestedAt, Expires: exp})
	}
	return out
}

// neverExpiresOffer is the expiry a reply gives a command that never
// expires (a wipe), after the reply's server time: the agent refuses a
// command whose expiry is before the reply's time, and the command is
// sent again in every reply until acknowledged.
const neverExpiresOffer = 24 * time.Hour

// toStore turns a verified heartbeat into what the store keeps. Compliance
// is judged here, against the policy in force on the server: every check
// it requires passes, and no plaintext waits in the vault.
func toStore(h *wire.Heartbeat, body []byte, received time.Time, p *policy.Policy) store.Heartbeat {
	hash := wire.Hash(body)
	results := map[string]string{}
	diskEnc := "unknown"
	for _, c := range h.Posture {
		results[c.Name] = c.Result
		if c.Name == string(policy.CheckDiskEncryption) {
			diskEnc = c.Result
		}
	}
	compliant := h.Vault.Plaintext == 0
	for _, c := range p.Checks {
		compliant = compliant && results[string(c)] == "pass"
	}
	hb := store.Heartbeat{
		DeviceID: h.DeviceID,
		Seq:      h.Seq,
		Hash:     mustHex(hash),
		PrevHash: mustHex(h.PrevHash),
		Body:     body,
		Stopping: h.Stopping,
		State: store.State{
			Seq: h.Seq, Hash: mustHex(hash), SentAt: h.CreatedAt, ReceivedAt: received,
			AgentVersion: h.AgentVersion, PolicyVersion: h.Policy.Version, PolicyHash: h.Policy.Hash,
			Recipient: h.Recipient, SealedFiles: h.Vault.Files, SealedBytes: h.Vault.Bytes,
			PlaintextFiles: h.Vault.Plaintext, CaseRefs: len(h.Vault.CaseRefs), DiskEncryption: diskEnc,
			Compliant: compliant, Lease: h.Lease, OfflineCopy: h.OfflineCopy,
		},
	}
	for _, a := range h.Acks {
		hb.Acks = append(hb.Acks, store.CommandAck{ID: a.ID, Type: a.Type, Result: a.Result, Reason: a.Reason, At: a.At})
	}
	for _, e := range h.Events {
		hb.Events = append(hb.Events, store.Event{DeviceID: h.DeviceID, Seq: h.Seq, Time: e.Time, Type: e.Type, CaseRef: e.CaseRef, Detail: e.Detail})
	}
	for _, k := range h.Coalesced {
		detail, _ := json.Marshal(k)
		hb.Events = append(hb.Events, store.Event{DeviceID: h.DeviceID, Seq: h.Seq, Time: k.Last, Type: wire.EventCoalesced, Detail: string(detail)})
	}
	if h.Skipped > 0 {
		hb.Events = append(hb.Events, store.Event{DeviceID: h.DeviceID, Seq: h.Seq, Time: h.CreatedAt, Type: wire.EventSpoolFull,
			Detail: fmt.Sprintf("%d heartbeats were not made while the agent's spool was full", h.Skipped)})
	}
	for _, c := range h.Vault.CaseRefs {
		hb.CaseRefs = append(hb.CaseRefs, store.CaseCount{Ref: c.Ref, Files: c.Files})
	}
	return hb
}
