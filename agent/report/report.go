package report

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/wire"
)

// Snapshot is the device's state as a heartbeat reports it.
type Snapshot struct {
	AgentVersion string
	Policy       wire.PolicyRef
	Recipient    string
	Posture      []wire.Check
	Vault        wire.Vault
	Storage      wire.Storage
	Lease        string // the vault key's state: one of the wire.Lease constants
	OfflineCopy  string // how the offline copy is held: one of the wire.Offline constants, or ""
}

// Config is what a Reporter needs. Store, Enrollment, Key and Snapshot are
// required.
type Config struct {
	Store      *state.Store
	Enrollment *Enrollment
	Key        ed25519.PrivateKey // the device signing key
	// Snapshot returns what the next heartbeat reports.
	Snapshot func() Snapshot
	// Interval and Jitter set the heartbeat period (from policy).
	Interval, Jitter time.Duration
	// OnPolicy is called (from the sending goroutine) when the server
	// says a newer policy version is in force.
	OnPolicy func(ctx context.Context, version int)
	// OnCommands, if set, is given the commands of a reply that is signed
	// by the pinned server key, is for this device and echoes the
	// request's nonce, after the heartbeats it acknowledges have left the
	// spool, with the reply's ServerTime. It is called from the sending
	// goroutine and must not wait on a heartbeat. Commands in a reply that
	// does not echo the nonce (a replay), is not signed by the pinned key
	// (forged) or is for another device are refused: a
	// wire.EventCommandRefused event names each once, and none is passed
	// on, nor acknowledged.
	OnCommands func(ctx context.Context, serverTime time.Time, cmds []wire.Command)
	// OnServerTime, if set, is given the ServerTime of every reply that
	// is signed by the pinned server key, is for this device and echoes
	// the request's nonce (so is no replay): a time the agent can trust.
	// It is called from the sending goroutine, before OnCommands.
	OnServerTime func(serverTime time.Time)
	// OnReply, if set, is called (from the sending goroutine, after
	// OnCommands) after every batch the server acknowledged.
	OnReply func(ctx context.Context, reply *wire.Reply)
	// Client talks to the server (default: Enrollment.Client()).
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time

	SpoolMax   int           // heartbeats the spool holds (default 10,000: a month at 5 minutes)
	PendingMax int           // events held before they are only counted (default 10,000)
	BatchMax   int           // heartbeats in one request (default 50)
	DrainEvery time.Duration // least time between requests while a backlog drains (default 200ms)
	// A notable event (see [Reporter.Notable]) asks for a heartbeat when
	// things settle: SettleQuiet after the last notable event of a burst,
	// or SettleMax after its first, whichever is sooner, but never sooner
	// than NotableMin after the last heartbeat made, so a fleet cannot
	// flood the server. A burst that comes within NotableMin still gets
	// its heartbeat, at the end of it.
	NotableMin  time.Duration // least time between heartbeats made for notable events (default 10s)
	SettleQuiet time.Duration // quiet after a burst's last notable event (default 2s)
	SettleMax   time.Duration // longest wait after a burst's first notable event (default 10s)
	BackoffMin  time.Duration // first retry delay (default 1s)
	BackoffMax  time.Duration // longest retry delay (default 5m)
}

// Reporter makes heartbeats, spools them and sends them.
type Reporter struct {
	cfg   Config
	log   *slog.Logger
	spool *spool
	base  *url.URL

	mu        sync.Mutex
	events    []wire.Event
	coalesced map[string]*wire.Coalesced
	lastMade  time.Time
	notable   bool
	final     bool            // Final was called: no more heartbeats are made
	refused   map[string]bool // commands of replies not taken, reported already (refuseCommands)
	st        Status

	made chan struct{} // a heartbeat was spooled
	kick chan struct{} // make a heartbeat soon
}

// Status is what the reporter knows about its link to the server.
type Status struct {
	AckedSeq   uint64
	LastAck    time.Time // when the server last acknowledged
	Spooled    int       // heartbeats waiting to be sent
	LastError  string    // the last failure to send, if the last attempt failed
	ServerTime time.Time // the server's clock at the last acknowledgement
}

// New makes a reporter.
func New(cfg Config) (*Reporter, error) {
	if cfg.Store == nil || cfg.Enrollment == nil || len(cfg.Key) != ed25519.PrivateKeySize || cfg.Snapshot == nil {
		return nil, errors.New("report: Store, Enrollment, Key and Snapshot are required")
	}
	base, err := url.Parse(cfg.Enrollment.Server)
	if err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, 5*time.Minute)
	def(&cfg.DrainEvery, 200*time.Millisecond)
	def(&cfg.NotableMin, 10*time.Second)
	def(&cfg.SettleQuiet, 2*time.Second)
	def(&cfg.SettleMax, 10*time.Second)
	cfg.SettleQuiet = min(cfg.SettleQuiet, cfg.SettleMax)
	def(&cfg.BackoffMin, time.Second)
	def(&cfg.BackoffMax, 5*time.Minute)
	defInt(&cfg.SpoolMax, 10_000)
	defInt(&cfg.PendingMax, 10_000)
	defInt(&cfg.BatchMax, 50)
	cfg.BatchMax = min(cfg.BatchMax, wire.MaxBatch)
	if cfg.Client == nil {
		cfg.Client = cfg.Enrollment.Client()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reporter{
		cfg: cfg, log: cfg.Logger, spool: &spool{store: cfg.Store}, base: base,
		coalesced: map[string]*wire.Coalesced{}, made: make(chan struct{}, 1), kick: make(chan struct{}, 1),
	}
	m, n, err := r.spool.status()
	if err != nil {
		return nil, err
	}
	r.st.AckedSeq, r.st.Spooled = m.acked, n
	return r, nil
}

// Event queues an event for the next heartbeat. Past PendingMax queued
// events, new ones are only counted by type (with first and last times),
// and the heartbeat says so.
func (r *Reporter) Event(e wire.Event) {
	e.Type = wire.Clean(e.Type, wire.MaxShortString)
	e.CaseRef = wire.Clean(e.CaseRef, wire.MaxShortString)
	e.Detail = wire.Clean(e.Detail, wire.MaxString)
	if e.Type == "" {
		e.Type = "unknown"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) < r.cfg.PendingMax {
		r.events = append(r.events, e)
		return
	}
	r.foldLocked(e)
}

// Notable asks for a heartbeat soon, rather than at the next interval:
// when the burst of notable events it is part of settles (SettleQuiet
// after the last, at most SettleMax after the first), and not sooner than
// NotableMin after the last heartbeat made. The heartbeat's snapshot is
// taken when it is made, so it reports what the burst left.
func (r *Reporter) Notable() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// SetInterval changes the heartbeat period (a new policy).
func (r *Reporter) SetInterval(interval, jitter time.Duration) {
	r.mu.Lock()
	r.cfg.Interval, r.cfg.Jitter = interval, jitter
	r.mu.Unlock()
}

// Status returns the reporter's status.
func (r *Reporter) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Run makes heartbeats every interval (with jitter) and on notable events,
// and sends them, until ctx is done.
func (r *Reporter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.sendLoop(ctx)
	}()
	r.makeLoop(ctx)
	wg.Wait()
	return nil
}

func (r *Reporter) nextDelay() time.Duration {
	r.mu.Lock()
	interval, jitter := r.cfg.Interval, r.cfg.Jitter
	r.mu.Unlock()
	if jitter <= 0 {
		return interval
	}
	return interval - jitter + time.Duration(mrand.Int64N(int64(2*jitter)+1))
}

func (r *Reporter) makeLoop(ctx context.Context) {
	r.MakeHeartbeat() // at start: say we are here
	timer := time.NewTimer(r.nextDelay())
	defer timer.Stop()
	// settle fires when the burst of notable events under way has settled
	// (and NotableMin has passed since the last heartbeat); first and last
	// are the burst's first and last notable events (first is zero when
	// none is under way).
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var first, last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			// The interval's heartbeat. A burst under way still gets its
			// own when it settles, NotableMin after this one.
		case <-r.kick:
			now := r.cfg.Now()
			if first.IsZero() {
				first = now
			}
			last = now
			r.mu.Lock()
			due := later(earlier(last.Add(r.cfg.SettleQuiet), first.Add(r.cfg.SettleMax)), r.lastMade.Add(r.cfg.NotableMin))
			r.mu.Unlock()
			settle.Reset(max(due.Sub(now), 0))
			continue
		case <-settle.C:
			r.mu.Lock()
			early := r.lastMade.Add(r.cfg.NotableMin).Sub(r.cfg.Now())
			r.mu.Unlock()
			if early > 0 { // a heartbeat was made meanwhile (the interval's)
				settle.Reset(early)
				continue
			}
			first, last = time.Time{}, time.Time{}
		}
		r.MakeHeartbeat()
		timer.Reset(r.nextDelay())
	}
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// MakeHeartbeat makes the next heartbeat and spools it, durably, for
// sending. Events queued until now go into it (up to wire.MaxEvents; the
// rest wait for the next one), and the command acknowledgements waiting
// (see [Reporter.Ack]). A heartbeat the server would refuse is never
// spooled, since it would block every one after it: nothing is made while
// the clock reads before 2000, strings are cut to the protocol's limits,
// and the heartbeat is checked as the server will check it. After
// [Reporter.Final], it does nothing.
func (r *Reporter) MakeHeartbeat() { r.makeHeartbeat("", false) }

func (r *Reporter) makeHeartbeat(stopping string, last bool) bool {
	r.mu.Lock()
	final := r.final
	r.mu.Unlock()
	if final && !last {
		return false
	}
	now := r.cfg.Now().UTC()
	if now.Year() < 2000 {
		r.log.Warn("the clock reads before 2000: no heartbeat until it is set", "clock", now)
		return false
	}
	snap := r.cfg.Snapshot()
	snap.AgentVersion = wire.Clean(snap.AgentVersion, wire.MaxShortString)
	snap.Lease = wire.Clean(snap.Lease, wire.MaxShortString)
	snap.OfflineCopy = wire.Clean(snap.OfflineCopy, wire.MaxShortString)
	for i := range snap.Posture {
		snap.Posture[i].Evidence = wire.Clean(snap.Posture[i].Evidence, wire.MaxString)
	}
	r.mu.Lock()
	take := min(len(r.events), wire.MaxEvents-1)
	events := append([]wire.Event(nil), r.events[:take]...)
	var coalesced []wire.Coalesced
	for _, c := range r.coalesced {
		coalesced = append(coalesced, *c)
	}
	r.mu.Unlock()
	sort.Slice(coalesced, func(i, j int) bool { return coalesced[i].Type < coalesced[j].Type })

	seq, full, err := r.spool.append(r.cfg.SpoolMax, func(seq uint64, prev string, skipped int, acks []wire.CommandAck) ([]byte, []byte, error) {
		for i := range acks {
			acks[i].Reason = wire.Clean(acks[i].Reason, wire.MaxString)
		}
		body, err := wire.Marshal(wire.Heartbeat{
			V: wire.Version, DeviceID: r.cfg.Enrollment.DeviceID, Seq: seq, PrevHash: prev, CreatedAt: now,
			AgentVersion: snap.AgentVersion, Policy: snap.Policy, Recipient: snap.Recipient, Posture: nonNil(snap.Posture),
			Vault: snap.Vault, Storage: snap.Storage, Lease: snap.Lease, OfflineCopy: snap.OfflineCopy, Events: nonNil(events),
			Acks: acks, Coalesced: coalesced, Skipped: skipped, Stopping: stopping,
		})
		if err != nil {
			return nil, nil, err
		}
		if _, err := wire.DecodeHeartbeat(body); err != nil {
			return nil, nil, fmt.Errorf("the heartbeat would be refused: %w", err)
		}
		return body, wire.SignHeartbeat(r.cfg.Key, body), nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastMade = r.cfg.Now()
	switch {
	case err != nil:
		// Fold what this heartbeat would have carried into the counts, so
		// an event the server would refuse cannot block the next ones.
		r.log.Error("could not make a heartbeat", "err", err)
		for _, e := range events {
			r.foldLocked(e)
		}
		r.events = r.events[take:]
		return false
	case full:
		// Keep counting what happens: the events fold into the coalesced
		// counts, which the next heartbeat that fits carries.
		for _, e := range r.events {
			r.foldLocked(e)
		}
		r.events = nil
		r.log.Warn("the heartbeat spool is full; counting events until the server is back", "max", r.cfg.SpoolMax)
		return false
	}
	r.events = r.events[take:]
	// Subtract what the heartbeat carried: events counted meanwhile stay.
	for _, c := range coalesced {
		cur := r.coalesced[c.Type]
		if cur.Count -= c.Count; cur.Count <= 0 {
			delete(r.coalesced, c.Type)
		} else {
			cur.First = c.Last
		}
	}
	r.st.Spooled++
	r.log.Debug("heartbeat spooled", "seq", seq, "events", len(events))
	select {
	case r.made <- struct{}{}:
	default:
	}
	return true
}

// Farewell makes the last heartbeat of this run, saying why the agent
// stops (wire.StopService, StopShutdown or StopUninstall), and sends what
// the spool holds until the server acknowledges it or ctx is done. Call it
// after Run has returned. It reports whether the farewell heartbeat was
// spooled (it is then sent on the next start, if not now) and returns the
// error of the last send, if any.
func (r *Reporter) Farewell(ctx context.Context, reason string) (spooled bool, err error) {
	if !r.makeHeartbeat(reason, false) {
		return false, errors.New("the farewell heartbeat could not be made")
	}
	return true, r.drain(ctx, false)
}

// drain sends what the spool holds until the server has acknowledged all
// of it or ctx is done; with retry, failures are retried with backoff
// rather than returned.
func (r *Reporter) drain(ctx context.Context, retry bool) error {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		batch, seqs, _, err := r.spool.pending(r.cfg.BatchMax, batchBytes)
		if err != nil || len(batch) == 0 {
			return err
		}
		err = r.send(ctx, batch, seqs)
		switch {
		case err == nil:
			backoff = 0
			continue
		case !retry:
			return err
		}
		backoff = min(max(2*backoff, r.cfg.BackoffMin), r.cfg.BackoffMax)
		r.log.Warn("could not send the last heartbeats; will retry", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(mrand.Int64N(int64(backoff)) + 1)):
		}
	}
	return ctx.Err()
}

// Ack queues a command acknowledgement for the next heartbeat. It is kept
// in the state store, durably, until a heartbeat carrying it is spooled
// (in the same transaction), so a crash loses none; a second one for the
// same command ID, while the first waits, replaces it. The heartbeat is
// asked for soon.
func (r *Reporter) Ack(a wire.CommandAck) error {
	if a.At.IsZero() {
		a.At = r.cfg.Now().UTC()
	}
	if err := r.spool.queueAck(a); err != nil {
		return err
	}
	r.Notable()
	return nil
}

// AckPending reports whether an acknowledgement of the command id is
// waiting for a heartbeat or is in a heartbeat in the spool, not yet
// acknowledged by the server: what [Reporter.Final] sends.
func (r *Reporter) AckPending(id string) (bool, error) {
	return r.spool.ackPending(id)
}

// HoldForFinal stops the reporter making heartbeats (the interval's,
// notable events', MakeHeartbeat, Farewell) from now on, so that the one
// [Reporter.Final] makes is the last: call it before queueing what that
// heartbeat must carry (a wipe's acknowledgement), so no heartbeat made in
// between carries it and is then followed by another.
func (r *Reporter) HoldForFinal() {
	r.mu.Lock()
	r.final = true
	r.mu.Unlock()
}

// Final makes the reporter's last heartbeat, carrying the command
// acknowledgements waiting (none is made if none waits: they are in the
// spool already), and sends the spool until the server has acknowledged
// every heartbeat in it, retrying with backoff, or ctx is done. From the
// moment it is called no other heartbeat is made (MakeHeartbeat and
// Farewell do nothing), even if it returns early: it is for a device
// being wiped, whose acknowledgement of the wipe is its last word. Call it
// again (after a restart too) until it returns nil.
func (r *Reporter) Final(ctx context.Context) error {
	r.mu.Lock()
	r.final = true
	r.mu.Unlock()
	n, err := r.spool.acksWaiting()
	if err != nil {
		return err
	}
	if n > 0 && !r.makeHeartbeat("", true) {
		return errors.New("the last heartbeat could not be made")
	}
	return r.drain(ctx, true)
}

// Forget removes the spool, the acknowledgements waiting and the spool's
// bookkeeping from the state store (see [Forget]), and forgets what the
// reporter holds in memory: for a wiped device, once [Reporter.Final] has
// returned nil.
func (r *Reporter) Forget() error {
	err := Forget(r.cfg.Store)
	r.mu.Lock()
	r.st.Spooled, r.events, r.coalesced = 0, nil, map[string]*wire.Coalesced{}
	r.mu.Unlock()
	return err
}

func (r *Reporter) foldLocked(e wire.Event) {
	c := r.coalesced[e.Type]
	if c == nil {
		c = &wire.Coalesced{Type: e.Type, First: e.Time}
		r.coalesced[e.Type] = c
	}
	c.Count++
	c.Last = e.Time
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// sendLoop sends the spool, oldest first, in batches, at most one request
// per DrainEvery while a backlog drains, backing off with jitter while the
// server is away.
func (r *Reporter) sendLoop(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		batch, seqs, dropped, err := r.spool.pending(r.cfg.BatchMax, batchBytes)
		if err != nil {
			r.log.Error("reading the heartbeat spool failed", "err", err)
		}
		if len(dropped) > 0 {
			r.log.Error("dropped corrupt spooled heartbeats; the server will record a break in the chain", "seqs", dropped)
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.made:
				continue
			}
		}
		err = r.send(ctx, batch, seqs)
		if ctx.Err() != nil {
			return
		}
		wait := r.cfg.DrainEvery
		if err != nil {
			backoff = min(max(2*backoff, r.cfg.BackoffMin), r.cfg.BackoffMax)
			wait = time.Duration(mrand.Int64N(int64(backoff)) + 1) // full jitter
			r.mu.Lock()
			r.st.LastError = err.Error()
			r.mu.Unlock()
			r.log.Warn("could not send heartbeats; will retry", "err", err, "retry_in", wait.Round(time.Millisecond))
		} else {
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// send sends one batch and, on an acknowledgement, drops what it covers.
func (r *Reporter) send(ctx context.Context, batch []wire.SignedHeartbeat, seqs []uint64) error {
	nonce := wire.NewNonce()
	body, err := wire.Marshal(wire.Batch{V: wire.Version, Heartbeats: batch, Nonce: nonce})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base.JoinPath(wire.PathHeartbeats).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxRequest))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("the server answered %s: %s", resp.Status, bytes.TrimSpace(rb))
	}
	sig, _ := base64.StdEncoding.DecodeString(resp.Header.Get(wire.SignatureHeader))
	if err := wire.VerifyReply(r.cfg.Enrollment.ServerKey, rb, sig); err != nil {
		if forged, derr := wire.DecodeReply(rb); derr == nil {
			r.refuseCommands(forged.Commands, "in a reply not signed by the pinned server key (forged?)")
		}
		return fmt.Errorf("the reply is not signed by the pinned server key: %w", err)
	}
	reply, err := wire.DecodeReply(rb)
	if err != nil {
		return err
	}
	if reply.DeviceID != r.cfg.Enrollment.DeviceID {
		r.refuseCommands(reply.Commands, "in a reply for another device ("+reply.DeviceID+")")
		return fmt.Errorf("the reply is for device %s, not this one", reply.DeviceID)
	}
	if m, _, err := r.spool.status(); err != nil {
		return err
	} else if reply.AckedSeq >= m.next {
		r.log.Warn("the server holds more of this device than this agent made (its state was lost or restored): renumbering what waits",
			"server_seq", reply.AckedSeq, "next_seq", m.next)
		return r.spool.renumber(reply.AckedSeq, r.remake) // and the loop sends them again
	}
	if err := r.spool.ack(reply.AckedSeq); err != nil {
		return err
	}
	_, n, _ := r.spool.status()
	r.mu.Lock()
	r.st.AckedSeq, r.st.LastAck, r.st.Spooled, r.st.LastError, r.st.ServerTime = reply.AckedSeq, r.cfg.Now(), n, "", reply.ServerTime
	r.mu.Unlock()
	if reply.Nonce == nonce && r.cfg.OnServerTime != nil {
		r.cfg.OnServerTime(reply.ServerTime)
	}
	r.commands(ctx, reply, nonce)
	if reply.AckedSeq < seqs[len(seqs)-1] {
		return fmt.Errorf("the server acknowledged up to seq %d of %d", reply.AckedSeq, seqs[len(seqs)-1])
	}
	if r.cfg.OnPolicy != nil {
		r.cfg.OnPolicy(ctx, reply.PolicyVersion)
	}
	if r.cfg.OnReply != nil {
		r.cfg.OnReply(ctx, reply)
	}
	return nil
}

// commands passes on the commands of a verified reply to the request
// whose nonce was nonce, or refuses them if the reply does not echo it.
func (r *Reporter) commands(ctx context.Context, reply *wire.Reply, nonce string) {
	if len(reply.Commands) == 0 {
		return
	}
	if reply.Nonce != nonce {
		r.refuseCommands(reply.Commands, "in a reply that does not echo its request's nonce (a replayed reply?)")
		return
	}
	if r.cfg.OnCommands != nil {
		r.cfg.OnCommands(ctx, reply.ServerTime, reply.Commands)
	}
}

// refuseCommands reports the commands of a reply that is not taken (why
// says which), with a wire.EventCommandRefused event: once for each
// command, however often the reply comes. They are not acknowledged: the
// reply cannot be trusted to say which commands the server sent.
func (r *Reporter) refuseCommands(cmds []wire.Command, why string) {
	if len(cmds) == 0 {
		return
	}
	var ids []string
	r.mu.Lock()
	if r.refused == nil || len(r.refused) > 1000 {
		r.refused = map[string]bool{}
	}
	for _, c := range cmds {
		key := c.ID + "\x00" + why
		if !r.refused[key] {
			r.refused[key] = true
			ids = append(ids, wire.Clean(c.Type, 32)+" "+wire.Clean(c.ID, 64))
		}
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	r.log.Warn("refused the commands of a reply not taken", "why", why, "commands", len(ids))
	r.Event(wire.Event{Time: r.cfg.Now().UTC(), Type: wire.EventCommandRefused,
		Detail: wire.Clean(fmt.Sprintf("%d command(s) %s: not carried out: %s", len(ids), why, strings.Join(ids, ", ")), wire.MaxString)})
	r.Notable()
}

// remake rebuilds a spooled heartbeat with a new seq and previous hash, and
// signs it again.
func (r *Reporter) remake(body []byte, seq uint64, prev string) ([]byte, []byte, error) {
	h, err := wire.DecodeHeartbeat(body)
	if err != nil {
		return nil, nil, err
	}
	h.Seq, h.PrevHash = seq, prev
	nb, err := wire.Marshal(h)
	if err != nil {
		return nil, nil, err
	}
	return nb, wire.SignHeartbeat(r.cfg.Key, nb), nil
}

// batchBytes bounds the heartbeat bytes in one request, well under the
// server's 1 MiB limit once base64 adds a third.
const batchBytes = 600 << 10

// FetchPolicy fetches the server's current policy bundle (the caller
// verifies it).
func (r *Reporter) FetchPolicy(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base.JoinPath(wire.PathPolicy).String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxRequest))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the policy: %s", resp.Status)
	}
	return b, nil
}
