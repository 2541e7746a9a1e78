package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultAddr is where the service listens unless told otherwise:
// /run/casekeep/casekeep.sock on Linux, /var/run/casekeep/casekeep.sock on
// macOS, \\.\pipe\casekeep on Windows.
func DefaultAddr() string { return defaultAddr() }

// Client is one connection to the service, for requests in turn. After an
// error other than a response's own (a timeout, the connection closed, the
// context ended) the connection is closed and every later Do returns
// ErrClosed: dial again.
type Client struct {
	mu          sync.Mutex
	c           net.Conn
	broken      error
	maxRequest  int
	maxResponse int
}

// Dial connects to the service at addr; ErrClosed (wrapping the OS's
// error) if nothing listens there.
func Dial(ctx context.Context, addr string) (*Client, error) {
	return dialWith(ctx, osPlatform{}, addr)
}

func dialWith(ctx context.Context, p platform, addr string) (*Client, error) {
	c, err := p.dial(ctx, addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return nil, fmt.Errorf("%w: the casekeep service is not answering at %s: %w", ErrClosed, addr, err)
	}
	return &Client{c: c, maxRequest: DefaultMaxRequest, maxResponse: DefaultMaxResponse}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = ErrClosed
	}
	return c.c.Close()
}

// Do sends req and waits for its response until ctx ends. The error is
// the response's (an *Error, matched with errors.Is) or the channel's; the
// response is returned with its error.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrClosed, c.broken)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	if _, err := DecodeRequest(b); err != nil {
		return Response{}, err // refused here as the service would
	}
	if len(b) > c.maxRequest {
		return Response{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), c.maxRequest)
	}
	dl, _ := ctx.Deadline()
	c.c.SetDeadline(dl) // zero: none
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	resp, err := c.roundTrip(b)
	cut := !stop() // the deadline was moved to the past: not reusable
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	if err != nil {
		c.broken = err
		c.c.Close()
		return Response{}, err
	}
	if cut {
		c.broken = ErrTimeout
		c.c.Close()
	}
	return resp, resp.Err()
}

func (c *Client) roundTrip(b []byte) (Response, error) {
	if werr := writeFrame(c.c, b, c.maxRequest); werr != nil {
		// The service may have answered and closed before reading (it
		// is busy): its answer says why better than the broken pipe.
		if rb, err := readFrame(c.c, c.maxResponse); err == nil {
			var resp Response
			if json.Unmarshal(rb, &resp) == nil && resp.Err() != nil {
				return resp, nil
			}
		}
		return Response{}, werr
	}
	rb, err := readFrame(c.c, c.maxResponse)
	if errors.Is(err, io.EOF) {
		return Response{}, fmt.Errorf("%w: the service closed the connection", ErrClosed)
	}
	if err != nil {
		return Response{}, err
	}
	var resp Response
	if err := json.Unmarshal(rb, &resp); err != nil {
		return Response{}, fmt.Errorf("%w: the response: %v", ErrMalformed, jsonReason(err))
	}
	return resp, nil
}

// Call sends op with args (encoded as JSON; nil for none) and decodes the
// response's data into out (unless out is nil).
func (c *Client) Call(ctx context.Context, op string, args, out any) error {
	req := Request{Op: op}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return err
		}
		req.Args = b
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	if out == nil || len(resp.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return fmt.Errorf("%w: the response's data: %v", ErrMalformed, jsonReason(err))
	}
	return nil
}
