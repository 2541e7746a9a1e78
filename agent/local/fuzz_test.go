package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeRequest: whatever a client sends, the decoder returns a valid
// request or ErrMalformed/ErrTooLarge, never panics, and what it accepts
// survives encoding and decoding again unchanged.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"whoami"}`,
		`{"op":"open","args":{"path":"/home/a/cache/LL-1/r.docx.age","with":"cat"}}`,
		`{"op":"seal","args":null}`,
		`{"op":"status","args":{}} `,
		`{"op":"x","uid":0}`,
		`{"op":"x","args":[]}`,
		`{"op":"x"}{"op":"y"}`,
		`{"op":"x","op":"y"}`,
		`{"op":"\u00e9"}`,
		`{"args":{"a":` + string(bytes.Repeat([]byte("["), 100)) + `}}`,
		"\xff\xfe{",
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is not the channel's", err)
			}
			if r.Op != "" || r.Args != nil {
				t.Fatalf("a request %+v with the error", r)
			}
			return
		}
		if !validOp(r.Op) {
			t.Fatalf("accepted op %q", r.Op)
		}
		if r.Args != nil && (len(r.Args) == 0 || bytes.TrimSpace(r.Args)[0] != '{') {
			t.Fatalf("accepted args %q", r.Args)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", r, err)
		}
		r2, err := DecodeRequest(again)
		if err != nil {
			t.Fatalf("the re-encoded request %q refused: %v", again, err)
		}
		if r2.Op != r.Op || !jsonEqual(r2.Args, r.Args) {
			t.Fatalf("%+v became %+v", r, r2)
		}
	})
}

// jsonEqual compares two JSON values by meaning: re-encoding escapes
// characters such as '&' differently.
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
