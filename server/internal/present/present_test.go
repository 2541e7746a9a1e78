package present_test

import (
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/internal/present"
)

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{"": "", "laptop": "laptop", "=cmd|'/C calc'!A0": "'=cmd|'/C calc'!A0", "+1": "'+1", "-2": "'-2", "@SUM": "'@SUM", "\tx": "'\tx", "a=b": "a=b"} {
		if got := present.CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTimes(t *testing.T) {
	want := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, in := range []string{"2026-03-01T09:00:00Z", "2026-03-01T09:00Z", "2026-03-01T10:00+01:00", "2026-03-01T09:00", " 2026-03-01 09:00 "} {
		got, err := present.ParseTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "yesterday", "01/03/2026"} {
		if _, err := present.ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) accepted", in)
		}
	}
	if present.Time(time.Time{}) != "" || present.Time(want.In(time.FixedZone("BST", 3600))) != "2026-03-01T09:00:00Z" {
		t.Error("Time")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 4000: "4,000", 1234567: "1,234,567", -8000: "-8,000", -100: "-100"} {
		if got := present.Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestParseTime: the forms people type a time in, each read as the
// instant meant, in UTC; what is not a time is refused.
func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"2026-03-01T09:00Z":         "2026-03-01T09:00:00Z",
		"2026-03-01T09:00:30Z":      "2026-03-01T09:00:30Z",
		"2026-03-01T10:00+01:00":    "2026-03-01T09:00:00Z",
		"2026-03-01T09:00":          "2026-03-01T09:00:00Z",
		" 2026-03-01 09:00 ":        "2026-03-01T09:00:00Z",
		"2026-03-01":                "2026-03-01T00:00:00Z",
		"2026-03-01T09:00:00.5333Z": "2026-03-01T09:00:00.5333Z",
	} {
		got, err := present.ParseTime(in)
		if err != nil || got.Format(time.RFC3339Nano) != want {
			t.Errorf("present.ParseTime(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-13-01", "09:00"} {
		if _, err := present.ParseTime(in); err == nil {
			t.Errorf("present.ParseTime(%q) took it", in)
		}
	}
}
