package classify

import (
	"bytes"
	"regexp"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Text is matched against markers after folding, the same for the text and
// for the markers: whitespace, NUL and invisible format characters (soft
// hyphen, zero-width space, byte-order mark) are dropped, every dash
// becomes '-', and letters are lower-cased. Bytes that are not valid UTF-8
// are kept as they are. Dropping whitespace lets a marker match across
// line breaks, runs split by tags, and text placed piece by piece in a PDF;
// dropping NUL lets an ASCII marker match ASCII text stored as UTF-16, as
// in legacy Word and Excel files.

// foldRune appends the folded form of r to dst.
func foldRune(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return append(dst, byte(r)+'a'-'A')
		}
		if asciiSpace[r] {
			return dst
		}
		return append(dst, byte(r))
	}
	if r <= 0xffff {
		switch f := bmpFold()[r]; f {
		case 0:
			return dst
		default:
			return utf8.AppendRune(dst, rune(f))
		}
	}
	return foldSlow(dst, r)
}

func foldSlow(dst []byte, r rune) []byte {
	switch {
	case unicode.IsSpace(r) || unicode.Is(unicode.Cf, r):
		return dst
	case unicode.Is(unicode.Pd, r) || r == '\u2212':
		return append(dst, '-')
	}
	return utf8.AppendRune(dst, unicode.ToLower(r))
}

// bmpFold holds the folded form of every character of the Basic
// Multilingual Plane past ASCII (each folds to one character in it), 0 for
// one that is dropped; built on first use.
var bmpFold = sync.OnceValue(func() *[1 << 16]uint16 {
	var t [1 << 16]uint16
	var b []byte
	for r := rune(utf8.RuneSelf); r <= 0xffff; r++ {
		b = foldSlow(b[:0], r)
		if len(b) > 0 {
			f, _ := utf8.DecodeRune(b)
			t[r] = uint16(f)
		}
	}
	return &t
})

// asciiSpace holds the ASCII characters dropped: whitespace, and NUL,
// which UTF-16 puts between the letters of ASCII text.
var asciiSpace = [utf8.RuneSelf]bool{0: true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// asciiFold holds the folded form of every ASCII character, 0 for one
// that is dropped.
var asciiFold = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		if !asciiSpace[c] {
			t[c] = foldRune(nil, rune(c))[0]
		}
	}
	return t
}()

// foldString returns the folded form of a marker.
func foldString(s string) []byte {
	var b []byte
	for _, r := range s {
		b = foldRune(b, r)
	}
	return b
}

// Window sizes: a case reference is looked for in windows that overlap by
// refTail bytes; text is searched once this much is waiting.
const (
	refTail     = 1024
	searchAfter = 64 << 10
)

// scanner looks for markers in a stream of text and, once one is found,
// for a case reference. It keeps a window of the folded text, searched and
// then cut to the last maxLen-1 bytes, so memory stays constant whatever
// the length of the text.
type scanner struct {
	pats   [][]byte
	maxLen int
	fold   []byte
	found  int // index of the marker found, or -1

	re    *regexp.Regexp // nil unless a case reference is looked for in the text
	group int
	show  []byte // the text as written, for case references
	ref   string
	pend  [utf8.UTFMax]byte // an incomplete UTF-8 sequence at the end of the last write
	npend int
}

func newScanner(c *Classifier) *scanner {
	s := &scanner{pats: c.folded, maxLen: c.maxLen, found: -1}
	if c.name != nil && c.refText {
		s.re, s.group = c.name, c.refGroup
	}
	return s
}

// done reports whether a marker was found, and a case reference too if
// one is looked for.
func (s *scanner) done() bool {
	return s.found >= 0 && (s.re == nil || s.ref != "")
}

// Write adds text, searching it in pieces so that the window stays small
// and a long write stops early once the search is done. It never fails.
func (s *scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !s.done() {
		k := min(len(p), chunkSize)
		s.write(p[:k])
		p = p[k:]
	}
	return n, nil
}

func (s *scanner) write(p []byte) {
	if s.re != nil {
		s.show = append(s.show, p...)
	}
	for s.npend > 0 && len(p) > 0 {
		k := copy(s.pend[s.npend:], p)
		tmp := s.pend[:s.npend+k]
		if !utf8.FullRune(tmp) {
			s.npend += k
			p = p[k:]
			break
		}
		_, size := utf8.DecodeRune(tmp)
		s.rune(tmp[:size])
		if size >= s.npend {
			p = p[size-s.npend:]
			s.npend = 0
		} else {
			s.npend = copy(s.pend[:], s.pend[size:s.npend])
		}
	}
	s.fold = slices.Grow(s.fold, len(p))
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if f := asciiFold[c]; f != 0 {
				s.fold = append(s.fold, f)
			}
			i++
			continue
		}
		if c < 0xc2 || c > 0xf4 {
			// Never the first byte of a valid sequence: kept as it is.
			s.fold = append(s.fold, c)
			i++
			continue
		}
		if !utf8.FullRune(p[i:]) {
			s.npend = copy(s.pend[:], p[i:])
			break
		}
		_, size := utf8.DecodeRune(p[i:])
		s.rune(p[i : i+size])
		i += size
	}
	if len(s.fold) >= searchAfter || len(s.show) >= searchAfter {
		s.check()
	}
}

// rune adds one complete UTF-8 sequence, or one byte that is not valid
// UTF-8, which is kept as it is.
func (s *scanner) rune(b []byte) {
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size <= 1 {
		s.fold = append(s.fold, b...)
		return
	}
	s.fold = foldRune(s.fold, r)
}

// space separates words in the text without joining or splitting markers,
// which ignore whitespace: it only matters to case references.
func (s *scanner) space() {
	if s.re != nil {
		s.show = append(s.show, ' ')
	}
}

// check searches the text written since the last check.
func (s *scanner) check() { s.search(false) }

// finish searches what is left at the end of the text.
func (s *scanner) finish() {
	s.flushPending()
	s.search(true)
}

// Break ends a piece of text: no marker or reference spans a break.
func (s *scanner) Break() {
	s.finish()
	s.fold = s.fold[:0]
	s.show = s.show[:0]
}

func (s *scanner) flushPending() {
	if s.npend > 0 {
		for _, b := range s.pend[:s.npend] {
			s.rune([]byte{b})
		}
		s.npend = 0
	}
}

func (s *scanner) search(final bool) {
	if s.found < 0 {
		for i, p := range s.pats {
			if bytes.Index(s.fold, p) >= 0 {
				s.found = i
				break
			}
		}
	}
	if keep := s.maxLen - 1; len(s.fold) > keep {
		n := copy(s.fold, s.fold[len(s.fold)-keep:])
		s.fold = s.fold[:n]
	}
	if s.re == nil {
		return
	}
	if s.found >= 0 && s.ref == "" {
		// A match that ends at the end of the window may go on in the next
		// write; it is found again there, since the window overlaps.
		for _, m := range s.re.FindAllSubmatchIndex(s.show, 16) {
			if m[1] == len(s.show) && !final {
				break
			}
			if a, b := m[2*s.group], m[2*s.group+1]; a >= 0 && b > a {
				s.ref = string(s.show[a:b])
				break
			}
		}
	}
	if len(s.show) > refTail {
		n := copy(s.show, s.show[len(s.show)-refTail:])
		s.show = s.show[:n]
	}
}
