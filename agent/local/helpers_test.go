//go:build unix

package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/testenv"
)

// nobody is the user and group a test gives files to, or runs a client as.
const nobody = 65534

// openDir is a temporary folder every user may search, so that a client
// run as another user can reach a socket in it.
func openDir(t testing.TB) string { return testenv.OpenDir(t, "casekeep-local-") }

// syncBuffer is a log sink the tests read while the server writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts a server on a real socket in a fresh folder and stops it
// at the test's end; its log goes to the returned buffer.
func serve(t testing.TB, h Handler, opt Options) (*Server, *syncBuffer) {
	t.Helper()
	return serveOn(t, osPlatform{}, filepath.Join(openDir(t), "run", socketName), h, opt)
}

func serveOn(t testing.TB, p platform, addr string, h Handler, opt Options) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(logs, nil))
	}
	s, err := listenWith(p, addr, h, opt)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, logs
}

func dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// whoami answers each request with the peer the server saw, and records
// it.
type whoami struct {
	mu    sync.Mutex
	peers []Peer
}

func (w *whoami) ServeLocal(_ context.Context, p Peer, r Request) Response {
	w.mu.Lock()
	w.peers = append(w.peers, p)
	w.mu.Unlock()
	return Reply(p)
}

func (w *whoami) seen() []Peer {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Peer(nil), w.peers...)
}

// frame is b with its length in front.
func frame(b []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	return append(out, b...)
}

// rawDial is a plain connection to the socket, for sending what no Client
// would.
func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response frame from a raw connection.
func readResponse(t testing.TB, c net.Conn) Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := readFrame(c, DefaultMaxResponse)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// closedByServer waits for the server to close c: a read ending in EOF.
func closedByServer(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	var b [64]byte
	for {
		_, err := c.Read(b[:])
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the server did not close the connection within %v", within)
		}
		return
	}
}

// fakePlatform is the channel without the OS: a connection is a socket
// pair,
// and its peer is the account the address dialled names ("uid:1000",
// "admin:0"), so that tests can be several accounts at once.
type fakePlatform struct {
	l *fakeListener
}

func newFakePlatform() fakePlatform {
	return fakePlatform{&fakeListener{conns: make(chan net.Conn), done: make(chan struct{})}}
}

type fakeConn struct {
	net.Conn
	p Peer
}

type fakeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.UnixAddr{Name: "fake", Net: "fake"} }

func (f fakePlatform) listen(string) (net.Listener, error) { return f.l, nil }

func (f fakePlatform) dial(ctx context.Context, addr string) (net.Conn, error) {
	kind, id, _ := strings.Cut(addr, ":")
	uid, err := strconv.Atoi(id)
	if err != nil {
		return nil, err
	}
	p := unixPeer(uint32(uid), uint32(uid), 0)
	p.Admin = kind == "admin"
	client, server, err := socketPair()
	if err != nil {
		return nil, err
	}
	select {
	case f.l.conns <- fakeConn{server, p}:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.l.done:
		return nil, net.ErrClosed
	}
}

func (fakePlatform) name(p Peer) string { return "user" + p.ID }

// confirm refuses uid 667, and serves uid 668 as 1668: what Windows's
// second look at the client may say.
func (fakePlatform) confirm(_ net.Conn, p Peer) (Peer, error) {
	switch p.ID {
	case "667":
		return Peer{}, errors.New("not who the process said")
	case "668":
		return unixPeer(1668, 1668, 0), nil
	}
	return p, nil
}

func (fakePlatform) peer(c net.Conn) (Peer, error) {
	fc, ok := c.(fakeConn)
	if !ok {
		return Peer{}, errors.New("not a fake connection")
	}
	return fc.p, nil
}

// socketPair is two connected sockets: buffered by the kernel as the
// channel's are, unlike net.Pipe.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	var cs [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		cs[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			if i == 1 {
				cs[0].Close()
			}
			return nil, nil, err
		}
	}
	return cs[0], cs[1], nil
}
