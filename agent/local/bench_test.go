//go:build unix

package local

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// BenchmarkRoundTrip is one request and its response on an open
// connection over a real socket: the channel's own cost, the handler's
// aside.
func BenchmarkRoundTrip(b *testing.B) {
	s, _ := serve(b, &whoami{}, Options{})
	c := dial(b, s.Addr())
	ctx := context.Background()
	req := Request{Op: "whoami", Args: json.RawMessage(`{"path":"/home/alice/casekeep/LL-123456/assessment.docx.age"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDialRoundTrip is the same with a connection for each request,
// as a one-shot command such as `casekeep open` makes.
func BenchmarkDialRoundTrip(b *testing.B) {
	s, _ := serve(b, &whoami{}, Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := Dial(ctx, s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Do(ctx, Request{Op: "whoami"}); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// The worst request under the limit costs the service little: 64 KiB of
// nesting, of escapes, of fields.
func TestDecodeWorstCase(t *testing.T) {
	fill := func(prefix, unit, suffix string) []byte {
		n := (DefaultMaxRequest - len(prefix) - len(suffix)) / len(unit)
		return []byte(prefix + strings.Repeat(unit, n) + suffix)
	}
	for name, b := range map[string][]byte{
		"nesting": fill(`{"op":"x","args":{"a":`, "[", ""),
		"escapes": fill(`{"op":"x","args":{"a":"`, `\u00e9`, `"}}`),
		"fields":  fill(`{"op":"x","args":{`, `"a":0,`, `"b":0}}`),
	} {
		start := time.Now()
		DecodeRequest(b)
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("%s: %d bytes decoded in %v", name, len(b), d)
		}
	}
}
