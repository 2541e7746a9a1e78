package printable_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/casekeep/casekeep/internal/printable"
)

func TestText(t *testing.T) {
	var (
		space = printable.Options{Replacement: ' '}
		label = printable.Options{Trim: true}
		term  = printable.Options{Replacement: '?', Newlines: true}
	)
	tests := []struct {
		in   string
		o    printable.Options
		want string
	}{
		{"plain ü text, 日本語, emoji 🙂, e\u0301", space, "plain ü text, 日本語, emoji 🙂, e\u0301"},
		{"", label, ""},
		{"U+FFFD \uFFFD is a symbol", space, "U+FFFD \uFFFD is a symbol"},
		// Control characters, escape sequences first of all.
		{"a\nb\x00c\td\x7fe\u0085f", space, "a b c d e f"},
		{"\x1b]0;owned\x07label", term, "?]0;owned?label"},
		{"two\nlines\r", term, "two\nlines?"},
		{"two\nlines", space, "two lines"},
		// Invalid UTF-8: each byte is replaced.
		{"bad \xff utf8", space, "bad   utf8"},
		{"AB\x01C\xff\xfeD", label, "AB\uFFFDC\uFFFD\uFFFDD"},
		{"\xe2\x80", label, "\uFFFD\uFFFD"},
		// Bidirectional controls: embeddings, overrides, isolates, marks.
		{"a\u202aa\u202bb\u202cc\u202dd\u202ee", term, "a?a?b?c?d?e"},
		{"\u2066x\u2067y\u2068z\u2069", term, "?x?y?z?"},
		{"\u200e\u200f\u061c", space, "   "},
		// Other format characters: zero-width, byte order mark, tags,
		// soft hyphen; invisible fillers.
		{"Ke\u200bnt\u200c\u200d\ufeff\u00ad", label, "Ke\uFFFDnt\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"tag\U000E0041", label, "tag\uFFFD"},
		{"\u3164name\u115f", label, "\uFFFDname\uFFFD"},
		// White space other than the ASCII space, separators, private
		// use, unassigned.
		{"a\u00a0b\u2003c\u2028d\u2029e\u3000f", space, "a b c d e f"},
		{"\ue000\U000F0000\U0010FFFF\u0378", label, "\uFFFD\uFFFD\uFFFD\uFFFD"},
		// A replacement that may not be shown itself is U+FFFD.
		{"a\x00b", printable.Options{Replacement: '\u202e'}, "a\uFFFDb"},
		{"a\x00b", printable.Options{Replacement: '\x07'}, "a\uFFFDb"},
		// Trimming, of what is replaced by spaces too.
		{" \t\n label \r\n", label, "label"},
		{"\x00 label \x00", printable.Options{Replacement: ' ', Trim: true}, "label"},
		{"\x00 label \x00", space, "  label  "},
		// Bytes: cut on a character boundary, never inside one.
		{strings.Repeat("é", 10), printable.Options{MaxBytes: 7}, "ééé"},
		{"abc🙂", printable.Options{MaxBytes: 6}, "abc"},
		{"abcdef", printable.Options{MaxBytes: 6}, "abcdef"},
		{"a\x01", printable.Options{MaxBytes: 3}, "a"}, // U+FFFD takes 3 bytes
		{"ab  cd", printable.Options{MaxBytes: 4, Trim: true}, "ab"},
		// Trailing white space within the limit once trimmed is no cut.
		{"abc      ", printable.Options{MaxBytes: 3, Trim: true}, "abc"},
		{"abc\x00\x00\x00", printable.Options{Replacement: ' ', MaxRunes: 3, Trim: true}, "abc"},
		// Characters: a cut text ends in an ellipsis, within the limit.
		{"abcdef", printable.Options{MaxRunes: 6}, "abcdef"},
		{"abcdefg", printable.Options{MaxRunes: 6}, "abcde…"},
		{"日本語のテキスト", printable.Options{MaxRunes: 4}, "日本語…"},
		{"ab  cdef", printable.Options{MaxRunes: 4, Trim: true}, "ab…"},
		{"ab  cdef", printable.Options{MaxRunes: 4}, "ab …"},
		{"abcdef", printable.Options{MaxRunes: 1}, "…"},
		// Both limits: the ellipsis fits the bytes too, or is left out.
		{"abcdefgh", printable.Options{MaxRunes: 6, MaxBytes: 6}, "abc…"},
		{"abcdefgh", printable.Options{MaxRunes: 6, MaxBytes: 2}, "ab"},
	}
	for _, tc := range tests {
		if got := printable.Text(tc.in, tc.o); got != tc.want {
			t.Errorf("Text(%q, %+v) = %q, want %q", tc.in, tc.o, got, tc.want)
		}
	}
}

// A hostile string of megabytes is cut to its limit, even when it is mostly
// white space or characters to replace.
func TestTextLong(t *testing.T) {
	long := strings.Repeat("\x1b", 1<<20) + "tail"
	if got := printable.Text(long, printable.Options{MaxBytes: 128, Trim: true}); got != strings.Repeat("\uFFFD", 42) {
		t.Errorf("got %d bytes: %q…", len(got), got[:min(len(got), 12)])
	}
	spaces := strings.Repeat(" ", 1<<20)
	if got := printable.Text(spaces+"label"+spaces, printable.Options{MaxBytes: 8, Trim: true}); got != "label" {
		t.Errorf("got %q", got)
	}
	if got := printable.Text("label"+spaces+"x", printable.Options{MaxRunes: 8, Trim: true}); got != "label…" {
		t.Errorf("got %q", got)
	}
}

// FuzzText checks, for any input and options, that the result is valid
// UTF-8, within its limits, holds nothing that may not be shown, is trimmed
// if asked, is unchanged when cleaned again, and that clean text within
// the limits comes back as it was.
func FuzzText(f *testing.F) {
	f.Add("plain", ' ', 16, 0, false, false)
	f.Add("\x1b[31mred\x1b[0m\u202egnp.exe", '?', 0, 0, false, true)
	f.Add(" \xff\xfe label \u2066 ", rune(0), 7, 0, true, false)
	f.Add("日本語のテキスト\u3164", '…', 0, 5, true, false)
	f.Add("ab  \x00\x00 ", ' ', 4, 3, true, true)
	f.Add("\u0085\u00a0\u2028", '\u00a0', 2, 1, false, false)
	f.Fuzz(func(t *testing.T, s string, repl rune, maxBytes, maxRunes int, trim, newlines bool) {
		o := printable.Options{Replacement: repl, MaxBytes: maxBytes % 300, MaxRunes: maxRunes % 100, Trim: trim, Newlines: newlines}
		got := printable.Text(s, o)
		if !utf8.ValidString(got) {
			t.Fatalf("Text(%q, %+v) = %q: invalid UTF-8", s, o, got)
		}
		if o.MaxBytes > 0 && len(got) > o.MaxBytes {
			t.Fatalf("Text(%q, %+v) = %q: %d bytes", s, o, got, len(got))
		}
		if n := utf8.RuneCountInString(got); o.MaxRunes > 0 && n > o.MaxRunes {
			t.Fatalf("Text(%q, %+v) = %q: %d characters", s, o, got, n)
		}
		for _, r := range got {
			if r == '\n' && newlines {
				continue
			}
			if !unicode.IsPrint(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r) ||
				unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
				t.Fatalf("Text(%q, %+v) = %q: holds %U", s, o, got, r)
			}
		}
		if trim && strings.TrimSpace(got) != got {
			t.Fatalf("Text(%q, %+v) = %q: not trimmed", s, o, got)
		}
		if again := printable.Text(got, o); again != got {
			t.Fatalf("Text(%q, %+v) = %q, but cleaned again %q", s, o, got, again)
		}
		if clean := printable.Text(s, printable.Options{Replacement: repl, Newlines: newlines}); clean == s && !trim &&
			(o.MaxBytes <= 0 || len(s) <= o.MaxBytes) && (o.MaxRunes <= 0 || utf8.RuneCountInString(s) <= o.MaxRunes) && got != s {
			t.Fatalf("Text(%q, %+v) = %q, changed clean text", s, o, got)
		}
		if o.MaxRunes <= 0 && !trim {
			// Cut by bytes only, the result is a prefix of the whole.
			if whole := printable.Text(s, printable.Options{Replacement: repl, Newlines: newlines}); !strings.HasPrefix(whole, got) {
				t.Fatalf("Text(%q, %+v) = %q, not a prefix of %q", s, o, got, whole)
			}
		}
	})
}
