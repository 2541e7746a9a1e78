package classify

import (
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// cmap is a font's ToUnicode map (ISO 32000-1, 9.10.3): how the codes of
// a shown string, one to four bytes each, become Unicode text.
type cmap struct {
	spaces []codespace
	minLen int
	chars  map[uint64][]uint16 // length<<32 | code → UTF-16
	ranges []bfrange           // sorted by lo
}

type codespace struct {
	n      int
	lo, hi uint32
}

type bfrange struct {
	n      int
	lo, hi uint32
	base   []uint16   // the first code's text; the last unit counts up
	arr    [][]uint16 // or one text per code
}

func codeOf(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 | uint32(x)
	}
	return c
}

// maxDst bounds the text one code stands for, in UTF-16 units: a
// ligature is a few characters, and a longer destination would let a
// small string stand for a great deal of text.
const maxDst = 16

func units(b []byte) []uint16 {
	b = b[:min(len(b), 2*maxDst)]
	u := make([]uint16, 0, len(b)/2+1)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	if len(b)%2 == 1 { // a one-byte destination: the byte itself
		u = append(u, uint16(b[len(b)-1]))
	}
	return u
}

// maxCMapEntries bounds the mappings kept from all the ToUnicode maps of
// one PDF, a few MiB.
const maxCMapEntries = 1 << 18

// parseCMap reads a ToUnicode map's codespace ranges, bfchar and bfrange
// sections; anything else is ignored. It returns nil if the map maps
// nothing. budget is what is left of maxCMapEntries, and is spent.
func parseCMap(b []byte, budget *int) *cmap {
	m := &cmap{chars: map[uint64][]uint16{}}
	l := &lexer{b: b, values: maxValues}
	var ops []value
	srcOK := func(v value) bool { return v.kind == vStr && len(v.s) >= 1 && len(v.s) <= 4 }
	for {
		t := l.next()
		if t.kind == tEOF {
			break
		}
		if t.kind != tKw {
			if len(ops) >= 1<<15 {
				ops = ops[:0] // a runaway section
			}
			ops = append(ops, l.parseFrom(t, 0))
			continue
		}
		l.values = maxValues // the values of one section at a time
		switch string(t.s) {
		case "endcodespacerange":
			for i := 0; i+1 < len(ops); i += 2 {
				lo, hi := ops[i], ops[i+1]
				if srcOK(lo) && srcOK(hi) && len(lo.s) == len(hi.s) && len(m.spaces) < 64 {
					m.spaces = append(m.spaces, codespace{len(lo.s), codeOf(lo.s), codeOf(hi.s)})
				}
			}
		case "endbfchar":
			for i := 0; i+1 < len(ops); i += 2 {
				src, dst := ops[i], ops[i+1]
				if srcOK(src) && dst.kind == vStr && len(m.chars) < maxCMapChars && *budget > 0 {
					*budget--
					m.chars[uint64(len(src.s))<<32|uint64(codeOf(src.s))] = units(dst.s)
					m.note(len(src.s))
				}
			}
		case "endbfrange":
			for i := 0; i+2 < len(ops); i += 3 {
				lo, hi, dst := ops[i], ops[i+1], ops[i+2]
				if !srcOK(lo) || !srcOK(hi) || len(lo.s) != len(hi.s) || len(m.ranges) >= maxCMapRanges || *budget <= 0 {
					continue
				}
				*budget--
				r := bfrange{n: len(lo.s), lo: codeOf(lo.s), hi: codeOf(hi.s)}
				if r.hi < r.lo {
					continue
				}
				r.hi = min(r.hi, r.lo+0xffff)
				switch dst.kind {
				case vStr:
					r.base = units(dst.s)
					if len(r.base) == 0 {
						continue
					}
				case vArr:
					n := min(len(dst.arr), int(r.hi-r.lo)+1, *budget)
					*budget -= n
					for _, e := range dst.arr[:n] {
						if e.kind == vStr {
							r.arr = append(r.arr, units(e.s))
						} else {
							r.arr = append(r.arr, nil)
						}
					}
				default:
					continue
				}
				m.ranges = append(m.ranges, r)
				m.note(r.n)
			}
		}
		ops = ops[:0]
	}
	if len(m.chars) == 0 && len(m.ranges) == 0 {
		return nil
	}
	slices.SortFunc(m.spaces, func(a, b codespace) int { return a.n - b.n })
	slices.SortStableFunc(m.ranges, func(a, b bfrange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	return m
}

// note records a code length seen, for maps that declare no codespace.
func (m *cmap) note(n int) {
	if m.minLen == 0 || n < m.minLen {
		m.minLen = n
	}
}

// next returns the code at the start of s and its length in bytes.
func (m *cmap) next(s []byte) (uint32, int) {
	for _, sp := range m.spaces {
		if len(s) >= sp.n {
			if c := codeOf(s[:sp.n]); sp.lo <= c && c <= sp.hi {
				return c, sp.n
			}
		}
	}
	n := min(max(m.minLen, 1), len(s))
	return codeOf(s[:n]), n
}

// lookup returns the text for a code of n bytes.
func (m *cmap) lookup(c uint32, n int) ([]uint16, bool) {
	if u, ok := m.chars[uint64(n)<<32|uint64(c)]; ok {
		return u, true
	}
	i, _ := slices.BinarySearchFunc(m.ranges, c, func(r bfrange, c uint32) int {
		if r.lo <= c {
			return -1
		}
		return 1
	})
	// Ranges before i start at or below c; look back a few for overlaps.
	for k := i - 1; k >= 0 && k >= i-8; k-- {
		r := &m.ranges[k]
		if r.n != n || c < r.lo || c > r.hi {
			continue
		}
		off := c - r.lo
		if r.arr != nil {
			if int(off) < len(r.arr) && r.arr[off] != nil {
				return r.arr[off], true
			}
			continue
		}
		u := slices.Clone(r.base)
		u[len(u)-1] += uint16(off)
		return u, true
	}
	return nil, false
}

// count returns how many codes of s the map knows.
func (m *cmap) count(s []byte) int {
	k := 0
	for len(s) > 0 {
		c, n := m.next(s)
		if _, ok := m.lookup(c, n); ok {
			k++
		}
		s = s[n:]
	}
	return k
}

// decode appends the text of codes from the start of s until out has grown
// by at least limit bytes or s ends, and returns the bytes of s consumed.
// Codes the map does not know are dropped.
func (m *cmap) decode(s []byte, out []byte, limit int) ([]byte, int) {
	start, used := len(out), 0
	for used < len(s) && len(out)-start < limit {
		c, n := m.next(s[used:])
		if u, ok := m.lookup(c, n); ok {
			for _, r := range utf16.Decode(u) {
				out = utf8.AppendRune(out, r)
			}
		}
		used += n
	}
	return out, used
}
