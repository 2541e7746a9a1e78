package local

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// The limits a connection works within unless [Options] says otherwise.
const (
	DefaultMaxRequest  = 64 << 10 // bytes of one request's JSON
	DefaultMaxResponse = 4 << 20  // bytes of one response's JSON
	maxOpLen           = 64
	headerLen          = 4
)

// The errors of the channel. A [Response]'s error and the errors [Client.Do]
// returns match them with errors.Is, on either side of the channel.
var (
	// ErrTooLarge: a request or response longer than the limit.
	ErrTooLarge = errors.New("local: message too large")
	// ErrMalformed: a frame or a request that is not what the protocol says.
	ErrMalformed = errors.New("local: malformed message")
	// ErrTimeout: the request was not sent, or not answered, in time.
	ErrTimeout = errors.New("local: timed out")
	// ErrBusy: the service serves as many connections as it may, in all or
	// for this account; try again later.
	ErrBusy = errors.New("local: the service is busy")
	// ErrUnknownOp: no such operation.
	ErrUnknownOp = errors.New("local: unknown operation")
	// ErrDenied: this account may not do that.
	ErrDenied = errors.New("local: not allowed for this account")
	// ErrOutside: a path outside the caller's cache, or that leaves it.
	ErrOutside = errors.New("local: the path is outside your cache")
	// ErrNotRegular: a symlink, a FIFO, a device, a socket, a folder or a
	// file with more than one name where a regular file was asked for.
	ErrNotRegular = errors.New("local: not a regular file")
	// ErrInternal: the service failed; its log says why.
	ErrInternal = errors.New("local: internal error in the service")
	// ErrClosed: the connection is closed; dial again.
	ErrClosed = errors.New("local: connection closed")
	// ErrUnsafeDir: the socket's folder, or what is at the socket's path,
	// is not the service's own; nothing was changed in it.
	ErrUnsafeDir = errors.New("local: the channel's folder is not the service's own")
	// ErrInUse: another service already listens at that address.
	ErrInUse = errors.New("local: another service is listening on the channel")
)

// codes names each error a response can carry, the names being the
// wire's, in the order [Fail] looks for them in an error.
var codes = []struct {
	code string
	err  error
}{
	{"denied", ErrDenied},
	{"outside", ErrOutside},
	{"not_regular", ErrNotRegular},
	{"unknown_op", ErrUnknownOp},
	{"too_large", ErrTooLarge},
	{"malformed", ErrMalformed},
	{"busy", ErrBusy},
	{"timeout", ErrTimeout},
	{"internal", ErrInternal},
}

// sentinel is the error of code, or nil.
func sentinel(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// Request is one request on the channel: an operation's name and its
// arguments, which the handler of that operation decodes. Nothing in it
// says who is asking.
type Request struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is the answer to one request: data for the operation's caller,
// or an error.
type Response struct {
	Data  json.RawMessage `json:"data,omitempty"`
	Error *Error          `json:"error,omitempty"`
}

// Error is a failed request's error as it travels: a code from the list
// above and a message for the person at the laptop. errors.Is matches it
// with the sentinel of its code.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if s := sentinel(e.Code); s != nil {
		return s.Error()
	}
	return "local: error " + e.Code
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s := sentinel(e.Code)
	return s != nil && s == target
}

// Reply is a response carrying v, encoded as JSON; an ErrInternal response
// if v cannot be encoded.
func Reply(v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return Fail(ErrInternal)
	}
	return Response{Data: b}
}

// Fail is a response carrying err. err keeps its code if it is an *Error
// or wraps one of the channel's sentinels, and its text is the message, so
// a handler says in err what the person should read (and never what they
// may not see). Any other error becomes ErrInternal with no message: the
// handler logs what went wrong.
func Fail(err error) Response {
	var e *Error
	if errors.As(err, &e) {
		return Response{Error: &Error{Code: e.Code, Message: e.Message}}
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			msg := err.Error()
			if msg == c.err.Error() {
				msg = ""
			}
			return Response{Error: &Error{Code: c.code, Message: msg}}
		}
	}
	return Response{Error: &Error{Code: "internal"}}
}

// Err is r's error, or nil.
func (r Response) Err() error {
	if r.Error == nil {
		return nil
	}
	return r.Error
}

// DecodeRequest reads one request's JSON, as strictly as the service does:
// one JSON object, no other fields than op and args, an op of 1 to 64
// lower-case letters, digits, '.', '_' or '-', args (if any) an object,
// and nothing after it. Its size is the frame's to limit.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Request{}, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrMalformed, jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Request{}, fmt.Errorf("%w: data after the request", ErrMalformed)
	}
	if !validOp(r.Op) {
		return Request{}, fmt.Errorf("%w: no valid op", ErrMalformed)
	}
	if a := bytes.TrimSpace(r.Args); len(a) > 0 {
		if bytes.Equal(a, []byte("null")) {
			r.Args = nil
		} else if a[0] != '{' {
			return Request{}, fmt.Errorf("%w: args is not an object", ErrMalformed)
		}
	}
	return r, nil
}

// jsonReason says what was wrong with a request's JSON without repeating
// any of its contents (an unknown field's name is the sender's text).
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("bad JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return "a field of the wrong type"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "truncated JSON"
	}
	return "not a request"
}

func validOp(op string) bool {
	if op == "" || len(op) > maxOpLen {
		return false
	}
	for i := 0; i < len(op); i++ {
		c := op[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// writeFrame sends b with its length in front, in one write.
func writeFrame(w io.Writer, b []byte, max int) error {
	if len(b) > max {
		return ErrTooLarge
	}
	buf := make([]byte, headerLen+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[headerLen:], b)
	_, err := w.Write(buf)
	return netErr(err)
}

// readFrame reads one frame of at most max bytes. A longer frame is
// refused before its body is read: errTooLarge. A frame of zero bytes is
// malformed.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF // between frames: the other side is done
		}
		return nil, netErr(err)
	}
	n := binary.BigEndian.Uint32(h[:])
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: an empty frame", ErrMalformed)
	case uint64(n) > uint64(max):
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, netErr(err)
	}
	return b, nil
}

// netErr turns what a connection's read or write returned into the
// channel's errors: a passed deadline is ErrTimeout, a frame cut short
// ErrMalformed, a closed connection ErrClosed.
func netErr(err error) error {
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the frame was cut short", ErrMalformed)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
