package classify_test

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/casekeep/casekeep/agent/classify"
)

const marker = "OFFICIAL-SENSITIVE"

// rules are the rules most tests use.
func rules() classify.Rules {
	return classify.Rules{
		PathPatterns: []*regexp.Regexp{regexp.MustCompile(`(^|/)CaseExports/`)},
		NamePattern:  regexp.MustCompile(`(?P<ref>[A-Z]{2}-[0-9]{6})`),
		Markers:      []string{marker, "CASEMGMT-EXPORT v2"},
	}
}

func newClassifier(t testing.TB, r classify.Rules) *classify.Classifier {
	t.Helper()
	c, err := classify.New(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// counter is an io.ReaderAt over bytes that records how much was read and
// the furthest offset reached.
type counter struct {
	r    io.ReaderAt
	mu   sync.Mutex
	read int64
	end  int64 // furthest offset read + 1
	hook func(off int64)
}

func (c *counter) ReadAt(p []byte, off int64) (int, error) {
	if c.hook != nil {
		c.hook(off)
	}
	n, err := c.r.ReadAt(p, off)
	c.mu.Lock()
	c.read += int64(n)
	c.end = max(c.end, off+int64(n))
	c.mu.Unlock()
	return n, err
}

// classifyBytes classifies b under name and checks what every call must
// hold: no error, and no more read than MaxBytes, all counted in Read.
func classifyBytes(t testing.TB, c *classify.Classifier, name string, b []byte) classify.Result {
	t.Helper()
	cr := &counter{r: bytes.NewReader(b)}
	res, err := c.Classify(context.Background(), name, cr, int64(len(b)))
	if err != nil {
		t.Fatalf("Classify(%s): %v", name, err)
	}
	if res.Read != cr.read {
		t.Fatalf("Classify(%s): Read = %d, but %d bytes were read", name, res.Read, cr.read)
	}
	if res.Read > c.MaxBytes() {
		t.Fatalf("Classify(%s): read %d bytes, more than MaxBytes %d", name, res.Read, c.MaxBytes())
	}
	return res
}

// entry is one file in a zip made by makeZip.
type entry struct {
	name  string
	body  string
	store bool // stored, not deflated
}

func makeZip(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Deflate
		if e.store {
			m = zip.Store
		}
		f, err := w.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(f, e.body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const contentTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`

// wordXML wraps body paragraphs in a Word document part.
func wordXML(root, paras string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<w:` + root + ` xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">` +
		paras + `</w:` + root + `>`
}

// para is a Word paragraph of one run per piece of text.
func para(runs ...string) string {
	var b strings.Builder
	b.WriteString(`<w:p><w:pPr><w:jc w:val="center"/></w:pPr>`)
	for _, r := range runs {
		fmt.Fprintf(&b, `<w:r><w:rPr><w:b/><w:color w:val="FF0000"/></w:rPr><w:t xml:space="preserve">%s</w:t></w:r>`, r)
	}
	b.WriteString(`</w:p>`)
	return b.String()
}

// makeDocx returns a Word document with the given body and page header.
func makeDocx(t testing.TB, body, header string, extra ...entry) []byte {
	t.Helper()
	es := []entry{
		{name: "[Content_Types].xml", body: contentTypes},
		{name: "_rels/.rels", body: `<Relationships/>`},
		{name: "word/document.xml", body: wordXML("document", `<w:body>`+body+`</w:body>`)},
	}
	if header != "" {
		es = append(es, entry{name: "word/header1.xml", body: wordXML("hdr", header)})
	}
	return makeZip(t, append(es, extra...)...)
}

// makeXlsx returns an Excel workbook with the given shared strings and a
// sheet with one inline string.
func makeXlsx(t testing.TB, shared []string, inline string) []byte {
	t.Helper()
	var ss strings.Builder
	ss.WriteString(`<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	for _, s := range shared {
		fmt.Fprintf(&ss, `<si><t>%s</t></si>`, s)
	}
	ss.WriteString(`</sst>`)
	sheet := `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
		`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>` + inline + `</t></is></c></row></sheetData></worksheet>`
	return makeZip(t,
		entry{name: "[Content_Types].xml", body: contentTypes},
		entry{name: "xl/workbook.xml", body: `<workbook/>`},
		entry{name: "xl/sharedStrings.xml", body: ss.String()},
		entry{name: "xl/worksheets/sheet1.xml", body: sheet},
	)
}

// pdfObj is one object of a PDF made by makePDF: a dictionary (or other
// value) and, if stream is not nil, the stream's data, already encoded.
type pdfObj struct {
	dict   string
	stream []byte
}

// makePDF writes a PDF whose objects are numbered from 1, object 1 being
// the catalog, with a correct cross-reference table; info, if not 0, is
// the number of the document information dictionary.
func makePDF(info int, objs ...pdfObj) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n", i+1)
		if o.stream != nil {
			fmt.Fprintf(&b, "<< %s /Length %d >>\nstream\n", o.dict, len(o.stream))
			b.Write(o.stream)
			b.WriteString("\nendstream\nendobj\n")
		} else {
			fmt.Fprintf(&b, "%s\nendobj\n", o.dict)
		}
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R", len(objs)+1)
	if info > 0 {
		fmt.Fprintf(&b, " /Info %d 0 R", info)
	}
	fmt.Fprintf(&b, " >>\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// onePagePDF is a one-page PDF showing content with a Helvetica font F1;
// flate compresses the content stream.
func onePagePDF(content string, flate bool) []byte {
	if flate {
		return pagePDF(deflate([]byte(content)), "/Filter /FlateDecode")
	}
	return pagePDF([]byte(content), "")
}

// pagePDF is a one-page PDF whose content stream is stream, encoded
// with the filters in filter.
func pagePDF(stream []byte, filter string) []byte {
	return makePDF(0,
		pdfObj{dict: "<< /Type /Catalog /Pages 2 0 R >>"},
		pdfObj{dict: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"},
		pdfObj{dict: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"},
		pdfObj{dict: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"},
		pdfObj{dict: filter, stream: stream},
	)
}

// escapePDF writes s as a PDF literal string's contents, escaping what
// must be escaped and, where style says, other bytes as octal.
func escapePDF(s []byte, style []byte) string {
	var b strings.Builder
	for i, c := range s {
		st := byte(0)
		if len(style) > 0 {
			st = style[i%len(style)]
		}
		switch {
		case c == '(' || c == ')' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r' || st%4 == 1:
			fmt.Fprintf(&b, "\\%03o", c)
		case st%4 == 2 && c < 0100:
			// The shortest octal form, when the next byte cannot be
			// taken for a digit of it.
			if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7' {
				fmt.Fprintf(&b, "\\%03o", c)
			} else {
				fmt.Fprintf(&b, "\\%o", c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
