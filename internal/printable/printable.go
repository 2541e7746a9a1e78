package printable

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options says how [Text] cleans a string. The zero value replaces what may
// not be shown with U+FFFD and keeps any length.
type Options struct {
	// Replacement takes the place of each character that may not be shown
	// and of each byte of invalid UTF-8. Zero, or a character that may not
	// be shown itself, means U+FFFD.
	Replacement rune

	// MaxBytes, if above zero, is the most bytes kept; the text is cut on a
	// character boundary.
	MaxBytes int

	// MaxRunes, if above zero, is the most characters kept. Text cut to fit
	// ends in "…", which counts as one of them.
	MaxRunes int

	// Trim removes white space around the text, before it is cut and after.
	Trim bool

	// Newlines keeps line feeds ('\n'), for text of several lines such as a
	// terminal's; otherwise they are replaced like any control character.
	Newlines bool
}

const ellipsis = "…"

// Text returns s cleaned as o says: every character that may not be shown
// (see the package documentation) and every byte of invalid UTF-8 replaced,
// then trimmed and cut to fit. It reads no more of a long s than it needs.
func Text(s string, o Options) string {
	if o.Replacement == 0 || !shown(o.Replacement) {
		o.Replacement = utf8.RuneError
	}
	if o.Trim {
		s = strings.TrimSpace(s)
	}
	var b strings.Builder
	runes, cut := 0, false
	for len(s) > 0 {
		r, rest := o.next(s)
		s = rest
		if o.Trim && b.Len() == 0 && unicode.IsSpace(r) {
			continue
		}
		if o.MaxRunes > 0 && runes == o.MaxRunes || o.MaxBytes > 0 && b.Len()+utf8.RuneLen(r) > o.MaxBytes {
			// What is left may be only white space, which Trim removes:
			// then nothing was cut.
			cut = !o.Trim || !unicode.IsSpace(r) || !o.blank(s)
			break
		}
		b.WriteRune(r)
		runes++
	}
	out := b.String()
	if o.Trim {
		out = strings.TrimRightFunc(out, unicode.IsSpace)
	}
	if cut && o.MaxRunes > 0 && (o.MaxBytes <= 0 || o.MaxBytes >= len(ellipsis)) {
		for out != "" && (utf8.RuneCountInString(out) >= o.MaxRunes || o.MaxBytes > 0 && len(out)+len(ellipsis) > o.MaxBytes) {
			_, size := utf8.DecodeLastRuneInString(out)
			out = out[:len(out)-size]
		}
		if o.Trim {
			out = strings.TrimRightFunc(out, unicode.IsSpace)
		}
		out += ellipsis
	}
	return out
}

// next returns the first character of s as it is kept, and the rest of s.
func (o Options) next(s string) (rune, string) {
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case r == '\n' && o.Newlines:
	case r == utf8.RuneError && size == 1, !shown(r):
		r = o.Replacement
	}
	return r, s[size:]
}

// blank reports whether s holds only what becomes white space.
func (o Options) blank(s string) bool {
	for len(s) > 0 {
		var r rune
		r, s = o.next(s)
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// shown reports whether r may be shown as it is: a letter, mark, number,
// punctuation, symbol or the ASCII space (unicode.IsPrint), and neither a
// bidirectional control nor an invisible filler such as U+3164.
func shown(r rune) bool {
	return unicode.IsPrint(r) && !unicode.Is(unicode.Bidi_Control, r) &&
		!unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}
