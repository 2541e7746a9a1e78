package classify

import (
	"bytes"
	"strconv"
)

// A small PDF lexer and object parser (ISO 32000-1, 7.2 and 7.3), enough
// to find strings, dictionaries and streams in a possibly broken file. It
// never fails: malformed input yields fewer or odder tokens, and nesting
// deeper than maxDepth is cut.

const maxDepth = 32

// Token kinds.
const (
	tEOF   = 0
	tNum   = 'n'
	tName  = '/'
	tStr   = 's'
	tKw    = 'k'
	tDictO = '<'
	tDictC = '>'
	tArrO  = '['
	tArrC  = ']'
)

type token struct {
	kind byte
	s    []byte // name (without '/'), decoded string, or keyword
	num  float64
	intg bool // num is an integer
}

type lexer struct {
	b []byte
	i int
	// values bounds the values kept by parse, whose structures are larger
	// than the bytes they come from; past it, values are read and dropped,
	// and dropped is set. Zero means no bound.
	values  int
	dropped bool
}

// maxValues bounds the values one object keeps: a few MiB.
const maxValues = 1 << 15

// keep reports whether n more values may be kept.
func (l *lexer) keep(n int) bool {
	if l.values == 0 {
		return true
	}
	if l.values <= n {
		l.values = 1
		l.dropped = true
		return false
	}
	l.values -= n
	return true
}

// dictCost is what a dictionary costs in values, for its map.
const dictCost = 8

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func isRegular(c byte) bool { return !isSpace(c) && !isDelim(c) }

func (l *lexer) skipSpace() {
	for l.i < len(l.b) {
		c := l.b[l.i]
		if isSpace(c) {
			l.i++
			continue
		}
		if c == '%' {
			for l.i < len(l.b) && l.b[l.i] != '\n' && l.b[l.i] != '\r' {
				l.i++
			}
			continue
		}
		return
	}
}

func (l *lexer) next() token {
	for {
		l.skipSpace()
		if l.i >= len(l.b) {
			return token{}
		}
		c := l.b[l.i]
		switch c {
		case '(':
			s, n, _ := pdfLiteral(l.b[l.i+1:])
			l.i += 1 + n
			return token{kind: tStr, s: s}
		case '<':
			if l.i+1 < len(l.b) && l.b[l.i+1] == '<' {
				l.i += 2
				return token{kind: tDictO}
			}
			s, n, _ := pdfHex(l.b[l.i+1:])
			l.i += 1 + n
			return token{kind: tStr, s: s}
		case '>':
			l.i++
			if l.i < len(l.b) && l.b[l.i] == '>' {
				l.i++
				return token{kind: tDictC}
			}
			continue // stray
		case '[', ']':
			l.i++
			return token{kind: c}
		case '{', '}', ')':
			l.i++
			continue
		case '/':
			l.i++
			j := l.i
			for j < len(l.b) && isRegular(l.b[j]) {
				j++
			}
			name := pdfName(l.b[l.i:j])
			l.i = j
			return token{kind: tName, s: name}
		}
		j := l.i
		for j < len(l.b) && isRegular(l.b[j]) {
			j++
		}
		w := l.b[l.i:j]
		l.i = j
		if c == '+' || c == '-' || c == '.' || '0' <= c && c <= '9' {
			if f, err := strconv.ParseFloat(string(w), 64); err == nil {
				return token{kind: tNum, num: f, intg: bytes.IndexByte(w, '.') < 0}
			}
		}
		return token{kind: tKw, s: w}
	}
}

// pdfName decodes #xx escapes in a name.
func pdfName(b []byte) []byte {
	if bytes.IndexByte(b, '#') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '#' && i+2 < len(b) {
			if h, ok := unhex2(b[i+1], b[i+2]); ok {
				out = append(out, h)
				i += 2
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unhex2(a, b byte) (byte, bool) {
	h, ok1 := unhex(a)
	l, ok2 := unhex(b)
	return h<<4 | l, ok1 && ok2
}

// pdfLiteral decodes a literal string, b starting just after its '('. It
// returns the string, the bytes consumed (through the closing ')'), and
// whether the string was closed. Balanced parentheses need no escape;
// backslash escapes are \n \r \t \b \f \( \) \\, one to three octal
// digits, and a backslash before a line break, which joins lines. A
// backslash before any other byte stands for that byte. An end of line in
// the string (CR, LF or CR LF) is read as LF.
func pdfLiteral(b []byte) ([]byte, int, bool) {
	out := make([]byte, 0, min(len(b), 64))
	depth := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return out, i + 1, true
			}
			depth--
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			c = '\n'
		case '\\':
			i++
			if i >= len(b) {
				return out, i, false
			}
			c = b[i]
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if i+1 < len(b) && b[i+1] == '\n' {
					i++
				}
				continue
			case '\n':
				continue
			default:
				if '0' <= c && c <= '7' {
					v := int(c - '0')
					for k := 0; k < 2 && i+1 < len(b) && '0' <= b[i+1] && b[i+1] <= '7'; k++ {
						i++
						v = v<<3 | int(b[i]-'0')
					}
					c = byte(v) // high-order overflow is ignored, as the standard says
				}
			}
		}
		out = append(out, c)
	}
	return out, len(b), false
}

// pdfHex decodes a hexadecimal string, b starting just after its '<':
// whitespace is ignored, a final odd digit is followed by 0, and a byte
// that is neither ends the string as if it were '>' (not consumed).
func pdfHex(b []byte) ([]byte, int, bool) {
	out := make([]byte, 0, min(len(b)/2, 64))
	var hi byte
	odd := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '>' {
			if odd {
				out = append(out, hi<<4)
			}
			return out, i + 1, true
		}
		if isSpace(c) {
			continue
		}
		v, ok := unhex(c)
		if !ok {
			if odd {
				out = append(out, hi<<4)
			}
			return out, i, false
		}
		if odd {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		odd = !odd
	}
	if odd {
		out = append(out, hi<<4)
	}
	return out, len(b), false
}

// Value kinds.
const (
	vNull  = 0
	vNum   = 'n'
	vName  = '/'
	vStr   = 's'
	vArr   = 'a'
	vDict  = 'd'
	vRef   = 'r'
	vKw    = 'k'
	vClose = 'c' // a stray ']' or '>>'
)

type value struct {
	kind byte
	num  float64
	s    []byte
	arr  []value
	dict map[string]value
	ref  int
}

func (v value) get(key string) value {
	if v.kind != vDict {
		return value{}
	}
	return v.dict[key]
}

func (v value) isName(n string) bool { return v.kind == vName && string(v.s) == n }

// parse reads one value. "N G R" is a reference.
func (l *lexer) parse(depth int) value {
	t := l.next()
	return l.parseFrom(t, depth)
}

func (l *lexer) parseFrom(t token, depth int) value {
	switch t.kind {
	case tNum:
		if t.intg && t.num >= 0 && t.num < 1<<31 {
			save := l.i
			if g := l.next(); g.kind == tNum && g.intg {
				if r := l.next(); r.kind == tKw && string(r.s) == "R" {
					return value{kind: vRef, ref: int(t.num)}
				}
			}
			l.i = save
		}
		return value{kind: vNum, num: t.num}
	case tName:
		return value{kind: vName, s: t.s}
	case tStr:
		return value{kind: vStr, s: t.s}
	case tKw:
		return value{kind: vKw, s: t.s}
	case tArrC, tDictC:
		return value{kind: vClose}
	case tArrO:
		v := value{kind: vArr}
		for {
			t := l.next()
			if t.kind == tEOF || t.kind == tArrC {
				return v
			}
			if depth >= maxDepth {
				continue // too deep: skip the contents
			}
			e := l.parseFrom(t, depth+1)
			if e.kind == vClose {
				return v
			}
			if l.keep(1) {
				v.arr = append(v.arr, e)
			}
		}
	case tDictO:
		v := value{kind: vDict}
		if !l.keep(dictCost) {
			depth = maxDepth // read it, keep nothing
		}
		for {
			t := l.next()
			switch t.kind {
			case tEOF, tDictC:
				return v
			case tName:
				if depth >= maxDepth {
					continue
				}
				save := l.i
				e := l.parse(depth + 1)
				switch e.kind {
				case vClose:
					return v
				case vKw:
					if k := string(e.s); k == "stream" || k == "endobj" || k == "obj" {
						l.i = save // the dictionary was never closed
						return v
					}
				}
				if l.keep(1) {
					if v.dict == nil {
						v.dict = map[string]value{}
					}
					v.dict[string(t.s)] = e
				}
			case tKw:
				if k := string(t.s); k == "stream" || k == "endobj" || k == "obj" {
					l.i -= len(t.s)
					return v
				}
			}
		}
	}
	return value{}
}
