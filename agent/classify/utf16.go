package classify

import (
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Decoder turns UTF-16 text, written in pieces of any length, into
// UTF-8 for a scanner. Unpaired surrogates become U+FFFD.
type utf16Decoder struct {
	big  bool
	odd  int  // a byte of a code unit waiting for its pair, or -1
	hi   rune // a high surrogate waiting for its low half, or 0
	init bool
	out  []byte
}

func (d *utf16Decoder) write(p []byte, s *scanner) {
	if !d.init {
		d.odd, d.init = -1, true
	}
	d.out = d.out[:0]
	for _, b := range p {
		if d.odd < 0 {
			d.odd = int(b)
			continue
		}
		var u rune
		if d.big {
			u = rune(d.odd)<<8 | rune(b)
		} else {
			u = rune(b)<<8 | rune(d.odd)
		}
		d.odd = -1
		d.unit(u)
		if len(d.out) >= chunkSize {
			s.Write(d.out)
			d.out = d.out[:0]
		}
	}
	s.Write(d.out)
}

func (d *utf16Decoder) unit(u rune) {
	if d.hi != 0 {
		hi := d.hi
		d.hi = 0
		if r := utf16.DecodeRune(hi, u); r != utf8.RuneError {
			d.out = utf8.AppendRune(d.out, r)
			return
		}
		d.out = utf8.AppendRune(d.out, utf8.RuneError)
	}
	if utf16.IsSurrogate(u) && u < 0xdc00 {
		d.hi = u
		return
	}
	d.out = utf8.AppendRune(d.out, u) // a lone low surrogate becomes U+FFFD
}
