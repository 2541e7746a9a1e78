package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Handler answers the requests of the channel. Peer is who asks, from the
// kernel; ctx ends when the connection's time is up or the service stops.
// A handler that panics fails that request with ErrInternal and the
// connection is closed; a panic in a goroutine the handler starts is its
// own to recover.
type Handler interface {
	ServeLocal(ctx context.Context, p Peer, r Request) Response
}

// HandlerFunc is a function as a Handler.
type HandlerFunc func(ctx context.Context, p Peer, r Request) Response

// ServeLocal calls f.
func (f HandlerFunc) ServeLocal(ctx context.Context, p Peer, r Request) Response {
	return f(ctx, p, r)
}

// Options are the service's limits; a zero field takes its default.
type Options struct {
	// MaxRequest is the longest request, in bytes of JSON (64 KiB). A
	// longer one is refused before it is read and the connection closed.
	MaxRequest int
	// MaxResponse is the longest response (4 MiB); a handler's longer
	// response is sent as ErrTooLarge.
	MaxResponse int
	// ReadTimeout is the time a client has to send a whole request, from
	// its connection or the previous response (5 s).
	ReadTimeout time.Duration
	// ConnTimeout is a connection's whole life, the handlers' time
	// included (1 min). The handler's context ends then.
	ConnTimeout time.Duration
	// MaxConns is how many connections are served at once (64); more
	// are answered ErrBusy and closed.
	MaxConns int
	// MaxPerPeer is how many of those one account may have (8).
	MaxPerPeer int
	// Log receives a line for each connection refused or failed, never
	// a request's contents. Nil logs nothing.
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxRequest <= 0 {
		o.MaxRequest = DefaultMaxRequest
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = DefaultMaxResponse
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Second
	}
	if o.ConnTimeout <= 0 {
		o.ConnTimeout = time.Minute
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	if o.MaxPerPeer <= 0 {
		o.MaxPerPeer = 8
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server serves the channel: made by [Listen], it serves until [Server.Close]
// or the context given to [Server.Serve] ends.
type Server struct {
	l    net.Listener
	h    Handler
	opt  Options
	os   platform
	addr string

	mu      sync.Mutex
	conns   int
	perPeer map[string]int
	wg      sync.WaitGroup
	closed  chan struct{}
	once    sync.Once
}

// Listen makes the service's end of the channel at addr (see
// [DefaultAddr]) for h to answer. On Unix it prepares the socket's folder
// first and refuses one that is not the service's own (ErrUnsafeDir), and
// a socket another service listens on (ErrInUse).
func Listen(addr string, h Handler, opt Options) (*Server, error) {
	return listenWith(osPlatform{}, addr, h, opt)
}

func listenWith(p platform, addr string, h Handler, opt Options) (*Server, error) {
	l, err := p.listen(addr)
	if err != nil {
		return nil, err
	}
	return &Server{
		l: l, h: h, opt: opt.withDefaults(), os: p, addr: addr,
		perPeer: map[string]int{},
		closed:  make(chan struct{}),
	}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops accepting, ends the connections being served (their
// handlers' contexts end) and waits for them: a handler must return
// when its context ends, and must not call Close.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		close(s.closed) // under mu: no connection is taken on after this
		s.mu.Unlock()
		err = s.l.Close()
	})
	s.wg.Wait()
	return err
}

// Serve accepts and serves connections until ctx ends or Close is called;
// then it closes the server and returns nil. Another error from the
// listener ends it with that error.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	var backoff time.Duration
	for {
		c, err := s.l.Accept()
		if err != nil {
			select {
			case <-s.closed:
				s.wg.Wait()
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors, or the like: wait and retry
				// rather than spin or stop.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opt.Log.Warn("local channel: accepting a connection failed; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-s.closed:
					s.wg.Wait()
					return nil
				}
			}
			s.Close()
			return fmt.Errorf("local channel: %w", err)
		}
		backoff = 0
		s.accept(ctx, c)
	}
}

// isTemporary is true for an accept error worth retrying.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// accept learns who is at the other end of c, takes a place for it under
// the caps or refuses it, and serves it in its own goroutine.
func (s *Server) accept(ctx context.Context, c net.Conn) {
	p, err := s.peerOf(c)
	if err != nil {
		s.opt.Log.Warn("local channel: the caller's account cannot be read; connection refused", "err", err)
		c.Close()
		return
	}
	if !s.take(p.ID) {
		s.opt.Log.Warn("local channel: too many connections; one refused", "peer", p.String())
		// The reply is small and the socket new, so this write does not
		// wait; the deadline is there in case it would.
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		s.send(c, Fail(ErrBusy))
		c.Close()
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.release(p.ID)
		defer c.Close()
		s.serveConn(ctx, c, p)
	}()
}

// peerOf asks the OS for c's peer, a panic included in what it refuses.
func (s *Server) peerOf(c net.Conn) (p Peer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic reading the peer (%T)", r)
		}
	}()
	return s.os.peer(c)
}

// take counts a connection of id in, if the caps allow and the server is
// not closing.
func (s *Server) take(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return false
	default:
	}
	if s.conns >= s.opt.MaxConns || s.perPeer[id] >= s.opt.MaxPerPeer {
		return false
	}
	s.conns++
	s.perPeer[id]++
	s.wg.Add(1)
	return true
}

func (s *Server) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns--
	if s.perPeer[id]--; s.perPeer[id] <= 0 {
		delete(s.perPeer, id)
	}
}

// serveConn answers c's requests in turn until it closes, sends what is
// not a request, or its time is up.
func (s *Server) serveConn(ctx context.Context, c net.Conn, p Peer) {
	op := ""
	defer func() {
		if r := recover(); r != nil {
			// The panic's value may hold a request's contents: only its type.
			s.opt.Log.Error("local channel: panic serving a connection; closed", "op", op, "peer", p.String(), "panic", fmt.Sprintf("%T", r))
		}
	}()
	end := time.Now().Add(s.opt.ConnTimeout)
	p.Name = s.os.name(p)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	// Closing the connection when ctx ends unblocks a read or write in
	// progress: the service stopping, or the connection's time up.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetWriteDeadline(end)
	first := true
	for {
		op = ""
		c.SetReadDeadline(minTime(time.Now().Add(s.opt.ReadTimeout), end))
		b, err := readFrame(c, s.opt.MaxRequest)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, ErrClosed):
			case errors.Is(err, ErrTooLarge), errors.Is(err, ErrMalformed):
				s.opt.Log.Warn("local channel: a request refused; connection closed", "peer", p.String(), "err", err)
				s.send(c, Fail(err))
			default:
				s.opt.Log.Warn("local channel: connection dropped", "peer", p.String(), "err", err)
			}
			return
		}
		req, err := DecodeRequest(b)
		if err != nil {
			s.opt.Log.Warn("local channel: a request refused; connection closed", "peer", p.String(), "err", err)
			s.send(c, Fail(err))
			return
		}
		if first {
			first = false
			q, err := s.os.confirm(c, p)
			if err != nil {
				s.opt.Log.Warn("local channel: the caller's account not confirmed; connection refused", "peer", p.String(), "err", err)
				s.send(c, Fail(fmt.Errorf("%w: the account asking could not be confirmed", ErrDenied)))
				return
			}
			switch {
			case q.ID == p.ID && q.Name == "":
				q.Name = p.Name
			case q.ID != p.ID:
				q.Name = s.os.name(q)
			}
			p = q
		}
		op = req.Op
		resp, ok := s.call(ctx, p, req)
		if err := s.send(c, resp); err != nil || !ok {
			if err != nil && !errors.Is(err, ErrClosed) {
				s.opt.Log.Warn("local channel: a response not sent; connection closed", "op", op, "peer", p.String(), "err", err)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// call runs the handler, turning its panic into ErrInternal (ok false: the
// connection is closed after the response).
func (s *Server) call(ctx context.Context, p Peer, req Request) (resp Response, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.opt.Log.Error("local channel: the handler panicked", "op", req.Op, "peer", p.String(), "panic", fmt.Sprintf("%T", r))
			resp, ok = Fail(ErrInternal), false
		}
	}()
	return s.h.ServeLocal(ctx, p, req), true
}

// send writes resp; one too long for the limit goes as ErrTooLarge.
func (s *Server) send(c net.Conn, resp Response) error {
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(Fail(ErrInternal))
	}
	if len(b) > s.opt.MaxResponse {
		s.opt.Log.Warn("local channel: a response over the limit; refused", "bytes", len(b))
		b, _ = json.Marshal(Fail(fmt.Errorf("%w: the answer is over the channel's limit", ErrTooLarge)))
	}
	return writeFrame(c, b, s.opt.MaxResponse)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
