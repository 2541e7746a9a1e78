package classify_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/casekeep/casekeep/agent/classify"
)

var fuzzNames = []string{"a.txt", "a.docx", "a.xlsx", "a.pdf", "a.bin", "a.zip", "a.pptx", "a.odt"}

// FuzzClassify classifies arbitrary bytes under each format's name, then
// the same bytes with a marker planted in them. Every call: no error, no
// panic, Read counts every byte read and stays within MaxBytes. Content
// read as plain bytes is a case file exactly when the marker appears in
// its first MaxBytes, folded in one go, whatever the read boundaries.
func FuzzClassify(f *testing.F) {
	marked, clean := samples(f)
	for i, set := range []map[string][]byte{marked, clean} {
		for _, b := range set {
			f.Add(b, uint8(i), uint32(len(b)/2))
		}
	}
	f.Add([]byte("plain\xe2\x80"), uint8(0), uint32(6))
	f.Add(bytes.Repeat([]byte("\xc3\xa9 "), 3000), uint8(4), uint32(4095))
	f.Add(utf16LE("OFFICIAL-SENSITIVE"), uint8(0), uint32(0))

	const maxBytes = 8 << 10
	c := newClassifier(f, classify.Rules{Markers: []string{marker}, MaxBytes: maxBytes, MaxText: 64 << 10})
	folded := classify.Fold([]byte(marker))
	f.Fuzz(func(t *testing.T, data []byte, kind uint8, at uint32) {
		classifyBytes(t, c, fuzzNames[int(kind)%len(fuzzNames)], data)

		pos := int(at % uint32(len(data)+1))
		planted := append(append(append([]byte(nil), data[:pos]...), marker...), data[pos:]...)
		for _, b := range [][]byte{data, planted} {
			res := classifyBytes(t, c, "a.txt", b)
			if res.Format != classify.FormatText && res.Format != classify.FormatOther {
				continue // a zip or PDF by its magic bytes
			}
			if len(b) >= 2 && (b[0] == 0xff && b[1] == 0xfe || b[0] == 0xfe && b[1] == 0xff) {
				continue // UTF-16
			}
			want := bytes.Contains(classify.Fold(b[:min(len(b), maxBytes)]), folded)
			if res.CaseFile != want {
				t.Fatalf("%d bytes: %+v; the folded first %d bytes contain the marker: %v", len(b), res, maxBytes, want)
			}
			if res.Partial != (len(b) > maxBytes && !want) {
				t.Fatalf("%d bytes: %+v; want Partial only when cut short with no marker", len(b), res)
			}
		}
	})
}

// FuzzPDFString round-trips arbitrary bytes through PDF literal strings
// (escaped in the styles escapePDF chooses) and hexadecimal strings (with
// whitespace), and decodes arbitrary bytes as either: never more consumed
// than given, never more out than in.
func FuzzPDFString(f *testing.F) {
	f.Add([]byte("OFFICIAL-SENSITIVE (draft)"), []byte{0, 1, 2, 3})
	f.Add([]byte("\\(\r\n\t\x00\xff))"), []byte{2})
	f.Add([]byte("a)b(c\\"), []byte{})
	f.Fuzz(func(t *testing.T, s, style []byte) {
		enc := escapePDF(s, style) + ")trailing"
		out, n, ok := classify.PDFLiteral([]byte(enc))
		if !ok || !bytes.Equal(out, s) || n != len(enc)-len("trailing") {
			t.Fatalf("literal %q: got %q, consumed %d of %d, closed %v", enc, out, n, len(enc), ok)
		}
		h := hex.EncodeToString(s)
		var hb strings.Builder
		for i := range len(h) {
			hb.WriteByte(h[i])
			if len(style) > 0 && style[i%len(style)]%5 == 0 {
				hb.WriteString(" \n")
			}
		}
		hb.WriteString(">x")
		out, n, ok = classify.PDFHex([]byte(hb.String()))
		if !ok || !bytes.Equal(out, s) || n != hb.Len()-1 {
			t.Fatalf("hex %q: got %q, consumed %d, closed %v", hb.String(), out, n, ok)
		}
		for _, dec := range []func([]byte) ([]byte, int, bool){classify.PDFLiteral, classify.PDFHex} {
			out, n, _ := dec(s)
			if n < 0 || n > len(s) || len(out) > n {
				t.Fatalf("%q: %d bytes out of %d consumed of %d", s, len(out), n, len(s))
			}
		}
	})
}

// FuzzPDFContent reads arbitrary content streams: no panic, the text is
// bounded by the input, and text shown before arbitrary bytes is always
// found, alone and through a whole PDF.
func FuzzPDFContent(f *testing.F) {
	f.Add([]byte("BT /F1 12 Tf 72 712 Td (Hello) Tj ET"))
	f.Add([]byte("[(a) -300 (b)] TJ (c) ' 1 2 (d) \" BI /W 1 ID \x00\x01 EI Q"))
	f.Add([]byte("((((((\\"))
	f.Add([]byte("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["))
	f.Add([]byte("<< /A << /B [ 1 0 R <00ff> ] >> >> BDC"))
	c := newClassifier(f, rules())
	f.Fuzz(func(t *testing.T, content []byte) {
		text := classify.ContentText(content)
		if len(text) > 4*len(content)+16 {
			t.Fatalf("%d bytes of text from %d of content", len(text), len(content))
		}
		planted := append([]byte("BT (PLANTED) Tj ET "), content...)
		if text := classify.ContentText(planted); !strings.HasPrefix(text, "PLANTED") {
			t.Fatalf("planted text lost: %q", text)
		}
		pdf := onePagePDF("BT (OFFICIAL\\055SENSITIVE) Tj ET "+string(content), true)
		if res := classifyBytes(t, c, "a.pdf", pdf); !res.CaseFile {
			t.Fatalf("planted marker not found: %+v", res)
		}
		classifyBytes(t, c, "a.pdf", onePagePDF(string(content), false))
	})
}

// FuzzCMap builds ToUnicode maps from arbitrary code-to-character pairs,
// as bfchar or bfrange entries, and reads codes through them: each code
// comes out as its character. Arbitrary bytes as a map never panic.
func FuzzCMap(f *testing.F) {
	f.Add([]byte{1, 1, 0, 'O', 1, 2, 0, 'F'}, []byte{1, 1, 1, 2, 1, 2}, false)
	f.Add([]byte{0, 5, 0xd8, 0x3d}, []byte{0, 5}, true)
	f.Add([]byte(cmapSource), []byte{1, 1, 1, 9}, false)
	f.Fuzz(func(t *testing.T, pairs, codes []byte, ranges bool) {
		classify.CMapText(pairs, codes) // arbitrary bytes as a map

		m := map[uint16]rune{}
		var src strings.Builder
		src.WriteString("begincmap 1 begincodespacerange <0000> <FFFF> endcodespacerange\n")
		for i := 0; i+3 < len(pairs) && i < 400; i += 4 {
			code := uint16(pairs[i])<<8 | uint16(pairs[i+1])
			r := rune(uint16(pairs[i+2])<<8 | uint16(pairs[i+3]))
			if utf16.IsSurrogate(r) || r == 0xfffd {
				continue
			}
			m[code] = r
			if ranges {
				fmt.Fprintf(&src, "1 beginbfrange <%04X> <%04X> <%04X> endbfrange\n", code, code, r)
			} else {
				fmt.Fprintf(&src, "1 beginbfchar <%04X> <%04X> endbfchar\n", code, r)
			}
		}
		src.WriteString("endcmap")
		var want strings.Builder
		var s []byte
		known := 0
		for i := 0; i+1 < len(codes); i += 2 {
			code := uint16(codes[i])<<8 | uint16(codes[i+1])
			s = append(s, codes[i], codes[i+1])
			if r, ok := m[code]; ok {
				want.WriteRune(r)
				known++
			}
		}
		if known == 0 {
			// A map that knows none of the codes is not the font's: the
			// bytes are read as Windows-1252.
			want.Reset()
			for _, c := range s {
				if c >= 0x80 && c < 0xa0 {
					return // cp1252's own characters; not checked here
				}
				want.WriteRune(rune(c))
			}
		}
		got, ok := classify.CMapText([]byte(src.String()), s)
		if ok != (len(m) > 0) || ok && got != want.String() {
			t.Fatalf("map %q, codes % x: got %q (%v), want %q", src.String(), s, got, ok, want.String())
		}
	})
}

// FuzzXMLText extracts text from XML: escaped text comes back as it was;
// for any input, the output is no longer than the input and does not
// depend on how the input was cut into writes.
func FuzzXMLText(f *testing.F) {
	f.Add([]byte("OFFICIAL & SENSITIVE <b>"), []byte{3, 7})
	f.Add([]byte("]]> --> ?> &amp; &#x41;"), []byte{1})
	f.Add([]byte(`<w:t a="x>y">text</w:t><!-- c --><![CDATA[d]]><?pi ?>&#65;&bogus;&`), []byte{5, 1, 1})
	f.Fuzz(func(t *testing.T, text, cuts []byte) {
		esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(string(text))
		doc := []byte(`<?xml version="1.0"?><w:t xml:space="preserve">` + esc + `</w:t>`)
		if got := classify.XMLText(split(doc, cuts)...); got != string(text) {
			t.Fatalf("text %q: got %q", text, got)
		}
		whole := classify.XMLText(text)
		if got := classify.XMLText(split(text, cuts)...); got != whole {
			t.Fatalf("%q: in pieces %q, whole %q", text, got, whole)
		}
		if n := len(strings.NewReplacer(" ", "", "|", "").Replace(whole)); n > len(text) {
			t.Fatalf("%q: %d bytes of text from %d", text, n, len(text))
		}
	})
}

// split cuts b at offsets taken from cuts.
func split(b, cuts []byte) [][]byte {
	var out [][]byte
	for _, c := range cuts {
		k := min(int(c), len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return append(out, b)
}
