//go:build unix

package local

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/testenv"
)

func TestRoundTrip(t *testing.T) {
	w := &whoami{}
	s, _ := serve(t, w, Options{})
	c := dial(t, s.Addr())
	for i := range 3 { // several requests on one connection
		var got Peer
		if err := c.Call(ctxT(t, 5*time.Second), "whoami", map[string]int{"i": i}, &got); err != nil {
			t.Fatal(err)
		}
		me := os.Geteuid()
		if got.ID != strconv.Itoa(me) || got.UID != me || got.Admin != (me == 0) || got.PID != os.Getpid() {
			t.Fatalf("peer %+v, want uid %d, pid %d", got, me, os.Getpid())
		}
		if me == 0 && got.Name != "root" {
			t.Fatalf("peer %+v, want named root", got)
		}
	}
	// The folder is the service's and searchable; the socket anyone's.
	fi, err := os.Lstat(filepath.Dir(s.Addr()))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("folder: %v %v", fi.Mode(), err)
	}
	fi, err = os.Lstat(s.Addr())
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
}

func TestHandlerError(t *testing.T) {
	s, _ := serve(t, HandlerFunc(func(_ context.Context, _ Peer, r Request) Response {
		switch r.Op {
		case "denied":
			return Fail(ErrDenied)
		case "locked":
			return Fail(errors.New("the vault is locked: /secret/path"))
		}
		return Fail(ErrUnknownOp)
	}), Options{})
	c := dial(t, s.Addr())
	_, err := c.Do(ctxT(t, 5*time.Second), Request{Op: "denied"})
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("denied: %v", err)
	}
	_, err = c.Do(ctxT(t, 5*time.Second), Request{Op: "nope"})
	if !errors.Is(err, ErrUnknownOp) || errors.Is(err, ErrDenied) {
		t.Fatalf("unknown op: %v", err)
	}
	// An error that is not the channel's goes as internal, without its text.
	_, err = c.Do(ctxT(t, 5*time.Second), Request{Op: "locked"})
	if !errors.Is(err, ErrInternal) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("internal: %v", err)
	}
	// The connection still serves: these were the handler's answers.
	if _, err := c.Do(ctxT(t, 5*time.Second), Request{Op: "denied"}); !errors.Is(err, ErrDenied) {
		t.Fatal(err)
	}
}

// An oversized request is refused unread, its connection closed, and the
// service answers the next client.
func TestOversizedRequest(t *testing.T) {
	w := &whoami{}
	s, _ := serve(t, w, Options{})
	c := rawDial(t, s.Addr())
	big := `{"op":"whoami","args":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`
	// The client may still be writing when the service closes: ignore
	// its write's error.
	go c.Write(frame([]byte(big)))
	if r := readResponse(t, c); !errors.Is(r.Err(), ErrTooLarge) {
		t.Fatalf("response %+v, want too large", r)
	}
	closedByServer(t, c, 5*time.Second)
	if len(w.seen()) != 0 {
		t.Fatal("the handler saw the oversized request")
	}
	// The client refuses it itself.
	cl := dial(t, s.Addr())
	if _, err := cl.Do(ctxT(t, 5*time.Second), Request{Op: "whoami", Args: json.RawMessage(big[len(`{"op":"whoami","args":`) : len(big)-1])}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("client: %v", err)
	}
	next := dial(t, s.Addr())
	if err := next.Call(ctxT(t, 5*time.Second), "whoami", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedRequests(t *testing.T) {
	w := &whoami{}
	s, logs := serve(t, w, Options{})
	for _, body := range []string{
		"",
		"not json",
		`{"op":"whoami"`,
		`{"op":"whoami","uid":0}`, // claiming an account: not a field
		`{"op":"whoami","peer":{"ID":"0","Admin":true}}`,
		`{"op":"Who Am I"}`,
		`{"op":""}`,
		`{"op":"whoami","args":[1]}`,
		`{"op":"whoami"} {"op":"whoami"}`,
		`["whoami"]`,
		`{"op":"whoami","args":{}}` + "\x00",
		`{"op":"whoami","args":"SECRET-CONTENT"}`,
	} {
		c := rawDial(t, s.Addr())
		if _, err := c.Write(frame([]byte(body))); err != nil {
			t.Fatal(err)
		}
		if r := readResponse(t, c); !errors.Is(r.Err(), ErrMalformed) {
			t.Errorf("%q: response %+v, want malformed", body, r)
		}
		closedByServer(t, c, 5*time.Second)
	}
	if n := len(w.seen()); n != 0 {
		t.Fatalf("the handler saw %d malformed requests", n)
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Fatalf("a request's contents in the log:\n%s", logs)
	}
	if err := dial(t, s.Addr()).Call(ctxT(t, 5*time.Second), "whoami", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// A client sending one byte a second is dropped at the read deadline,
// while another is served meanwhile.
func TestSlowClientDropped(t *testing.T) {
	const readTimeout = 1500 * time.Millisecond
	s, _ := serve(t, &whoami{}, Options{ReadTimeout: readTimeout})
	start := time.Now() // before the service can have accepted it
	slow := rawDial(t, s.Addr())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for _, b := range frame([]byte(`{"op":"whoami"}`)) {
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	if err := dial(t, s.Addr()).Call(ctxT(t, 5*time.Second), "whoami", nil, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("another client waited %v", d)
	}
	closedByServer(t, slow, 5*time.Second)
	if d := time.Since(start); d < readTimeout || d > readTimeout+2*time.Second {
		t.Fatalf("the slow client was dropped after %v, want about %v", d, readTimeout)
	}
	slow.Close()
	<-stopped
}

// A connection's life is bounded too: a client that keeps sending
// requests slowly enough to meet each read deadline is dropped at the
// connection's limit, and the handler's context ends with it.
func TestConnTimeout(t *testing.T) {
	ended := make(chan error, 1)
	s, _ := serve(t, HandlerFunc(func(ctx context.Context, _ Peer, r Request) Response {
		<-ctx.Done()
		ended <- ctx.Err()
		return Reply("late")
	}), Options{ConnTimeout: 500 * time.Millisecond})
	c := dial(t, s.Addr())
	start := time.Now()
	_, err := c.Do(ctxT(t, 5*time.Second), Request{Op: "wait"})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want the connection closed", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("dropped after %v", d)
	}
	if err := <-ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handler's context: %v", err)
	}
}

func TestClientContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s, _ := serve(t, HandlerFunc(func(ctx context.Context, _ Peer, r Request) Response {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return Reply(nil)
	}), Options{})
	c := dial(t, s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, Request{Op: "wait"}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want timeout", err)
	}
	if _, err := c.Do(ctxT(t, time.Second), Request{Op: "wait"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after a timeout: %v, want closed", err)
	}
}

// Connections over the cap are answered busy at once; the ones being
// served are not disturbed, and a place freed is taken again.
func TestConnectionCap(t *testing.T) {
	ch := make(chan struct{})
	release, free := ch, sync.OnceFunc(func() { close(ch) })
	defer free()
	var entered sync.WaitGroup
	s, _ := serve(t, HandlerFunc(func(ctx context.Context, _ Peer, r Request) Response {
		if r.Op == "hold" {
			entered.Done()
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return Reply(r.Op)
	}), Options{MaxConns: 2, MaxPerPeer: 10})
	var held sync.WaitGroup
	for range 2 {
		c := dial(t, s.Addr())
		entered.Add(1)
		held.Add(1)
		go func() {
			defer held.Done()
			if _, err := c.Do(ctxT(t, 10*time.Second), Request{Op: "hold"}); err != nil {
				t.Error(err)
			}
			c.Close() // its place is free
		}()
	}
	entered.Wait()
	t0 := time.Now()
	_, err := dial(t, s.Addr()).Do(ctxT(t, 5*time.Second), Request{Op: "ping"})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("third connection: %v, want busy", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("busy took %v", d)
	}
	free()
	held.Wait()
	t0 = time.Now()
	testenv.Eventually(t, "a place freed", func() bool {
		c, err := Dial(context.Background(), s.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Call(ctxT(t, 5*time.Second), "ping", nil, nil) == nil
	})
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("a place freed was taken again after %v", d)
	}
}

// One account's connections are capped apart from the others': another
// account is served while the first is at its cap. (Several accounts at
// once: the fake platform.)
func TestPerPeerCap(t *testing.T) {
	fp := newFakePlatform()
	ch := make(chan struct{})
	release, free := ch, sync.OnceFunc(func() { close(ch) })
	defer free()
	var entered sync.WaitGroup
	w := &whoami{}
	s, _ := serveOn(t, fp, "fake", HandlerFunc(func(ctx context.Context, p Peer, r Request) Response {
		if r.Op == "hold" {
			entered.Done()
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return w.ServeLocal(ctx, p, r)
	}), Options{MaxConns: 10, MaxPerPeer: 2})
	_ = s
	fdial := func(addr string) *Client {
		c, err := dialWith(context.Background(), fp, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held sync.WaitGroup
	for range 2 {
		c := fdial("uid:1000")
		entered.Add(1)
		held.Add(1)
		go func() {
			defer held.Done()
			if _, err := c.Do(ctxT(t, 10*time.Second), Request{Op: "hold"}); err != nil {
				t.Error(err)
			}
		}()
	}
	entered.Wait()
	if _, err := fdial("uid:1000").Do(ctxT(t, 5*time.Second), Request{Op: "ping"}); !errors.Is(err, ErrBusy) {
		t.Fatalf("uid 1000's third: %v, want busy", err)
	}
	var p Peer
	if err := fdial("uid:1001").Call(ctxT(t, 5*time.Second), "ping", nil, &p); err != nil || p.ID != "1001" || p.Admin {
		t.Fatalf("uid 1001: %+v %v", p, err)
	}
	if err := fdial("admin:0").Call(ctxT(t, 5*time.Second), "ping", nil, &p); err != nil || !p.Admin {
		t.Fatalf("admin: %+v %v", p, err)
	}
	free()
	held.Wait()
}

// A handler's panic fails that request and closes its connection; the
// service goes on, and the log holds no request contents.
func TestHandlerPanic(t *testing.T) {
	s, logs := serve(t, HandlerFunc(func(_ context.Context, _ Peer, r Request) Response {
		if r.Op == "boom" {
			var a struct{ Secret string }
			json.Unmarshal(r.Args, &a)
			panic("handler failed on " + a.Secret)
		}
		return Reply("ok")
	}), Options{})
	c := dial(t, s.Addr())
	_, err := c.Do(ctxT(t, 5*time.Second), Request{Op: "boom", Args: json.RawMessage(`{"Secret":"CASE-LL-123456"}`)})
	if !errors.Is(err, ErrInternal) {
		t.Fatalf("got %v, want internal", err)
	}
	if _, err := c.Do(ctxT(t, 5*time.Second), Request{Op: "ping"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after a panic the connection: %v, want closed", err)
	}
	if err := dial(t, s.Addr()).Call(ctxT(t, 5*time.Second), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	l := logs.String()
	if !strings.Contains(l, "panicked") || !strings.Contains(l, "op=boom") {
		t.Fatalf("the panic is not logged:\n%s", l)
	}
	if strings.Contains(l, "LL-123456") {
		t.Fatalf("the log holds the request's contents:\n%s", l)
	}
}

func TestResponseTooLarge(t *testing.T) {
	s, _ := serve(t, HandlerFunc(func(_ context.Context, _ Peer, r Request) Response {
		return Reply(strings.Repeat("x", 2000))
	}), Options{MaxResponse: 1000})
	c := dial(t, s.Addr())
	if _, err := c.Do(ctxT(t, 5*time.Second), Request{Op: "big"}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want too large", err)
	}
}

// Close ends the connections being served, their handlers' contexts first.
func TestCloseEndsConnections(t *testing.T) {
	entered := make(chan struct{})
	s, err := Listen(filepath.Join(openDir(t), "run", socketName), HandlerFunc(func(ctx context.Context, _ Peer, r Request) Response {
		close(entered)
		<-ctx.Done()
		return Reply(nil)
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	c := dial(t, s.Addr())
	go c.Do(context.Background(), Request{Op: "wait"})
	<-entered
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if _, err := os.Lstat(s.Addr()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the socket is left: %v", err)
	}
}

func TestDialNothing(t *testing.T) {
	_, err := Dial(ctxT(t, time.Second), filepath.Join(t.TempDir(), "none.sock"))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

// panickyPlatform's peer panics for one account: the OS layer failing.
type panickyPlatform struct{ fakePlatform }

func (p panickyPlatform) peer(c net.Conn) (Peer, error) {
	peer, err := p.fakePlatform.peer(c)
	if peer.ID == "666" {
		panic("reading the peer")
	}
	return peer, err
}

// A failure reading who is asking refuses that connection only.
func TestPeerPanicRefusesOnlyThatConnection(t *testing.T) {
	fp := panickyPlatform{newFakePlatform()}
	serveOn(t, fp, "fake", &whoami{}, Options{})
	bad, err := dialWith(context.Background(), fp, "uid:666")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Do(ctxT(t, 5*time.Second), Request{Op: "whoami"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want the connection closed", err)
	}
	good, err := dialWith(context.Background(), fp, "uid:1000")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	var p Peer
	if err := good.Call(ctxT(t, 5*time.Second), "whoami", nil, &p); err != nil || p.ID != "1000" || p.Name != "user1000" {
		t.Fatalf("%+v %v", p, err)
	}
}

// The second look at the caller (Windows's impersonation of the pipe's
// client) refuses the connection or changes who it is served as, before
// any request is.
func TestConfirmBeforeServing(t *testing.T) {
	fp := newFakePlatform()
	w := &whoami{}
	serveOn(t, fp, "fake", w, Options{})
	bad, err := dialWith(context.Background(), fp, "uid:667")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Do(ctxT(t, 5*time.Second), Request{Op: "whoami"}); !errors.Is(err, ErrDenied) {
		t.Fatalf("got %v, want denied", err)
	}
	other, err := dialWith(context.Background(), fp, "uid:668")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for range 2 {
		var p Peer
		if err := other.Call(ctxT(t, 5*time.Second), "whoami", nil, &p); err != nil || p.ID != "1668" || p.Name != "user1668" {
			t.Fatalf("%+v %v", p, err)
		}
	}
	if n := len(w.seen()); n != 2 {
		t.Fatalf("the handler saw %d requests, want 2", n)
	}
}
