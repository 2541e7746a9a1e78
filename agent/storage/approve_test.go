package storage_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/policy"
)

func TestApproved(t *testing.T) {
	stick := storage.Volume{VendorID: "0781", ProductID: "5581", Serial: "4C530001230101113424"}
	dev := func(vid, pid, serial string) policy.Device {
		return policy.Device{VendorID: vid, ProductID: pid, Serial: serial, Description: vid + ":" + pid + ":" + serial}
	}
	tests := []struct {
		name  string
		v     storage.Volume
		allow []policy.Device
		want  int // index of the approving entry, -1 for none
	}{
		{"exact", stick, []policy.Device{dev("0781", "5581", "4C530001230101113424")}, 0},
		{"serial any", stick, []policy.Device{dev("0781", "5581", "*")}, 0},
		{"serial prefix", stick, []policy.Device{dev("0781", "5581", "4C53*")}, 0},
		{"serial one char", stick, []policy.Device{dev("0781", "5581", "4C53000123010111342?")}, 0},
		{"serial too short for ?", stick, []policy.Device{dev("0781", "5581", "4C530001230101113424?")}, -1},
		{"serial case", stick, []policy.Device{dev("0781", "5581", "4c530001230101113424")}, 0},
		{"serial other", stick, []policy.Device{dev("0781", "5581", "4C530001230101113425")}, -1},
		{"product pattern", stick, []policy.Device{dev("0781", "55*", "*")}, 0},
		{"product ?", stick, []policy.Device{dev("0781", "5?81", "*")}, 0},
		{"product other", stick, []policy.Device{dev("0781", "5567", "*")}, -1},
		{"product hex case", storage.Volume{VendorID: "0781", ProductID: "ABCD"}, []policy.Device{dev("0781", "abcd", "*")}, 0},
		{"vendor hex case", storage.Volume{VendorID: "090C", ProductID: "1000"}, []policy.Device{dev("090c", "1000", "*")}, 0},
		{"vendor other", stick, []policy.Device{dev("0782", "*", "*")}, -1},
		{"vendor is exact, not a pattern", stick, []policy.Device{dev("07*", "*", "*")}, -1},
		{"unknown vendor", storage.Volume{ProductID: "5581", Serial: "X"}, []policy.Device{dev("0781", "*", "*"), dev("", "*", "*")}, -1},
		{"bad vendor", storage.Volume{VendorID: "07811", ProductID: "5581"}, []policy.Device{dev("0781", "*", "*")}, -1},
		{"no serial matches only *", storage.Volume{VendorID: "0781", ProductID: "5581"}, []policy.Device{dev("0781", "5581", "?*"), dev("0781", "5581", "*")}, 1},
		{"empty fields approve nothing", stick, []policy.Device{dev("0781", "", "*"), dev("0781", "5581", "")}, -1},
		{"first match wins", stick, []policy.Device{dev("0781", "0000", "*"), dev("0781", "5581", "*"), dev("0781", "*", "*")}, 1},
		{"brackets are literal", storage.Volume{VendorID: "0781", ProductID: "5581", Serial: "A1"}, []policy.Device{dev("0781", "5581", "[A]1")}, -1},
		{"brackets match themselves", storage.Volume{VendorID: "0781", ProductID: "5581", Serial: "[A]1"}, []policy.Device{dev("0781", "5581", "[A]1")}, 0},
		{"backslash is literal", storage.Volume{VendorID: "0781", ProductID: "5581", Serial: `a\b`}, []policy.Device{dev("0781", "5581", `a\b`)}, 0},
		{"? is one rune", storage.Volume{VendorID: "0781", ProductID: "5581", Serial: "é1"}, []policy.Device{dev("0781", "5581", "?1")}, 0},
		{"empty list", stick, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := storage.Approved(tt.v, tt.allow)
			switch {
			case tt.want < 0 && ok:
				t.Errorf("approved by %+v", got)
			case tt.want >= 0 && !ok:
				t.Errorf("not approved, want entry %d", tt.want)
			case tt.want >= 0 && got != tt.allow[tt.want]:
				t.Errorf("approved by %+v, want entry %d", got, tt.want)
			}
		})
	}
}

// A pattern built to make a backtracking matcher take exponential time
// is decided quickly.
func TestApprovedPathologicalPattern(t *testing.T) {
	v := storage.Volume{VendorID: "0781", ProductID: "5581", Serial: strings.Repeat("a", 128)}
	allow := []policy.Device{{VendorID: "0781", ProductID: "5581", Serial: strings.Repeat("a*", 60) + "b"}}
	start := time.Now()
	if _, ok := storage.Approved(v, allow); ok {
		t.Error("approved")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// globRegexp is the reference meaning of a pattern.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

// FuzzApprovedSerial checks the serial pattern against its reference
// meaning as a regular expression, compared without regard to case.
func FuzzApprovedSerial(f *testing.F) {
	f.Add("4C53*", "4C530001230101113424")
	f.Add("*", "")
	f.Add("?", "é")
	f.Add("a*b*c", "aXbYc")
	f.Add("a*b*c", "aXbYcZ")
	f.Add("[x]", "[X]")
	f.Add("**?*", "ab")
	f.Fuzz(func(t *testing.T, pattern, serial string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(serial) || pattern == "" || len(pattern) > 200 || len(serial) > 200 {
			return
		}
		v := storage.Volume{VendorID: "0781", ProductID: "5581", Serial: serial}
		d := policy.Device{VendorID: "0781", ProductID: "5581", Serial: pattern}
		_, got := storage.Approved(v, []policy.Device{d})
		want := globRegexp(strings.ToLower(pattern)).MatchString(strings.ToLower(serial))
		if got != want {
			t.Errorf("pattern %q, serial %q: approved %v, want %v", pattern, serial, got, want)
		}
		if _, ok := storage.Approved(storage.Volume{ProductID: "5581", Serial: serial}, []policy.Device{d}); ok {
			t.Error("approved a volume without a vendor id")
		}
	})
}
