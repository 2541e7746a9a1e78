package classify

import (
	"context"
	"strings"
	"unicode/utf8"
)

// Hooks for the fuzz tests in package classify_test.

// PDFLiteral decodes a PDF literal string, b starting after its '('.
func PDFLiteral(b []byte) ([]byte, int, bool) { return pdfLiteral(b) }

// PDFHex decodes a PDF hexadecimal string, b starting after its '<'.
func PDFHex(b []byte) ([]byte, int, bool) { return pdfHex(b) }

// collect is a textSink that keeps the text, a space for a word break and
// "|" for a break.
type collect struct{ strings.Builder }

func (c *collect) Write(p []byte) (int, error) { return c.Builder.Write(p) }
func (c *collect) space()                      { c.WriteByte(' ') }
func (c *collect) Break()                      { c.WriteByte('|') }

func testJob() *job {
	c, _ := New(Rules{Markers: []string{"x"}})
	return newJob(context.Background(), c, strings.NewReader(""), 0)
}

// ContentText returns the text a PDF content stream shows, with no fonts'
// maps.
func ContentText(b []byte) string {
	var out collect
	p := &pdf{j: testJob(), out: &out}
	p.content(b)
	return out.String()
}

// CMapText returns the text of s through the ToUnicode map in src, and
// whether src maps anything.
func CMapText(src, s []byte) (string, bool) {
	budget := maxCMapEntries
	m := parseCMap(src, &budget)
	if m == nil {
		return "", false
	}
	var out collect
	p := &pdf{j: testJob(), out: &out}
	p.showText([]*cmap{m}, s)
	return out.String(), true
}

// XMLText returns the character data of an XML document written in the
// given pieces.
func XMLText(pieces ...[]byte) string {
	var out collect
	x := &xmlText{out: &out}
	for _, p := range pieces {
		x.Write(p)
	}
	return out.String()
}

// Fold returns text as markers are matched against it, folded in one go.
func Fold(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = append(out, b[0])
		} else {
			out = foldRune(out, r)
		}
		b = b[n:]
	}
	return out
}

// FoldTableDisagrees returns the first character of the Basic Multilingual
// Plane that the fold table folds differently from the Unicode tables, or
// that folds to more than one character or out of the plane; -1 if none.
func FoldTableDisagrees() rune {
	for r := rune(utf8.RuneSelf); r <= 0xffff; r++ {
		fast, slow := foldRune(nil, r), foldSlow(nil, r)
		f, n := utf8.DecodeRune(slow)
		if string(fast) != string(slow) || len(slow) > 0 && (n != len(slow) || f > 0xffff) {
			return r
		}
	}
	return -1
}
