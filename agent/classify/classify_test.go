package classify_test

import (
	"bytes"
	"context"
	a85 "encoding/ascii85"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/casekeep/casekeep/agent/classify"
)

func TestNewChecksRules(t *testing.T) {
	bad := []classify.Rules{
		{PathPatterns: []*regexp.Regexp{nil}},
		{Markers: []string{""}},
		{Markers: []string{" \t\n\u00a0\u200b"}},
		{Markers: []string{"ok", "\xff\xfe"}},
		{Markers: []string{strings.Repeat("x", classify.MaxMarkerLen+1)}},
		{Markers: make([]string, classify.MaxMarkers+1)},
		{Markers: []string{"ok"}, MaxBytes: -1},
		{Markers: []string{"ok"}, MaxText: -1},
	}
	for i, r := range bad {
		if _, err := classify.New(r); !errors.Is(err, classify.ErrInvalid) {
			t.Errorf("rules %d: err = %v, want ErrInvalid", i, err)
		}
	}
	c := newClassifier(t, classify.Rules{Markers: []string{"  spaced  marker "}})
	if c.MaxBytes() != classify.DefaultMaxBytes || c.MaxText() != classify.DefaultTextFactor*classify.DefaultMaxBytes {
		t.Errorf("defaults: MaxBytes %d, MaxText %d", c.MaxBytes(), c.MaxText())
	}
	c = newClassifier(t, classify.Rules{MaxBytes: 10, MaxText: 7})
	if c.MaxBytes() != 10 || c.MaxText() != 7 {
		t.Errorf("MaxBytes %d, MaxText %d; want 10, 7", c.MaxBytes(), c.MaxText())
	}
}

// noRead fails the test if the content is read.
type noRead struct{ t *testing.T }

func (n noRead) ReadAt([]byte, int64) (int, error) {
	n.t.Error("content read, though a path or name rule matched")
	return 0, io.EOF
}

func TestPathAndNameRules(t *testing.T) {
	c := newClassifier(t, rules())
	for _, tc := range []struct {
		name, rule, ref string
	}{
		{"/media/usb/CaseExports/notes.txt", classify.RulePath, ""},
		{"/media/usb/CaseExports/LL-123456 court report.docx", classify.RulePath, "LL-123456"},
		{"/home/sam/Downloads/LL-123456 court report.docx", classify.RuleName, "LL-123456"},
		{"C:/Users/sam/Desktop/chronology AB-000001 v2.pdf", classify.RuleName, "AB-000001"},
	} {
		res, err := c.Classify(context.Background(), tc.name, noRead{t}, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := classify.Result{CaseFile: true, Rule: tc.rule, CaseRef: tc.ref}
		if res != want {
			t.Errorf("%s: %+v, want %+v", tc.name, res, want)
		}
	}
	// The name pattern looks at the base name only.
	res := classifyBytes(t, c, "/home/LL-123456/notes.txt", []byte("shopping list"))
	if res.CaseFile || res.CaseRef != "" {
		t.Errorf("a reference in a folder name counted: %+v", res)
	}
}

func TestNamePatternGroups(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{`case (?P<ref>\d+)`, "42"},
		{`case (\d+)`, "42"},
		{`(case) (?P<ref>\d+)`, "42"},
		{`case \d+`, "case 42"},
	} {
		c := newClassifier(t, classify.Rules{NamePattern: regexp.MustCompile(tc.pattern)})
		res, err := c.Classify(context.Background(), "x/case 42.txt", noRead{t}, 0)
		if err != nil || !res.CaseFile || res.CaseRef != tc.want {
			t.Errorf("%s: %+v, %v; want ref %q", tc.pattern, res, err, tc.want)
		}
	}
}

func TestNoMatch(t *testing.T) {
	c := newClassifier(t, rules())
	body := []byte(strings.Repeat("Dear Sam, the meeting is at ten. OFFICIAL documents are elsewhere. ", 2000))
	res := classifyBytes(t, c, "/home/sam/Downloads/letter.txt", body)
	want := classify.Result{Format: classify.FormatText, Read: int64(len(body))}
	if res != want {
		t.Errorf("%+v, want %+v", res, want)
	}
	res = classifyBytes(t, c, "empty.txt", nil)
	if res.CaseFile || res.Partial || res.Read != 0 {
		t.Errorf("empty file: %+v", res)
	}
	// No markers: the content is never read.
	c = newClassifier(t, classify.Rules{PathPatterns: rules().PathPatterns})
	if res, err := c.Classify(context.Background(), "a.txt", noRead{t}, 10); err != nil || res.CaseFile {
		t.Errorf("%+v, %v", res, err)
	}
}

func utf16LE(s string) []byte {
	b := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestMarkersInPlainBytes(t *testing.T) {
	c := newClassifier(t, classify.Rules{Markers: []string{marker, "Vertraulich – Ärztlich", "CASEMGMT-EXPORT v2"}})
	long := strings.Repeat("a", 1024+32<<10-7) // the marker crosses a read boundary
	for _, tc := range []struct {
		name, body, marker, format string
	}{
		{"mixed case", "header\nOfficial-Sensitive\n", marker, classify.FormatText},
		{"line break", "OFFICIAL-\r\n   SENSITIVE", marker, classify.FormatText},
		{"nbsp and zero-width", "OFFICIAL\u00a0-\u200bSENSITIVE", marker, classify.FormatText},
		{"en dash", "OFFICIAL\u2013SENSITIVE", marker, classify.FormatText},
		{"non-ASCII marker", "vertraulich - ärztlich", "Vertraulich – Ärztlich", classify.FormatText},
		{"spaces dropped", "casemgmt-exportV2,id,name", "CASEMGMT-EXPORT v2", classify.FormatText},
		{"across reads", long + marker, marker, classify.FormatText},
		{"binary", "\x00\x01\x02MZ\x90\x00" + marker + "\x00", marker, classify.FormatOther},
		{"UTF-16 in a legacy Word file", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + string(utf16LE(" Official-Sensitive ")[2:]), marker, classify.FormatOther},
	} {
		res := classifyBytes(t, c, "f.txt", []byte(tc.body))
		if !res.CaseFile || res.Rule != classify.RuleMarker || res.Marker != tc.marker || res.Format != tc.format || res.Partial {
			t.Errorf("%s: %+v", tc.name, res)
		}
	}
	res := classifyBytes(t, c, "export.csv", utf16LE("id,name\r\n1,OFFICIAL-SENSITIVE\r\n"))
	if !res.CaseFile || res.Format != classify.FormatText {
		t.Errorf("UTF-16 text: %+v", res)
	}
	// Near misses.
	for _, body := range []string{"OFFICIAL SENSITIV", "OFFICIAL_SENSITIVE", "OFFICIAL.SENSITIVE", "O\x00F\x00F\x00"} {
		if res := classifyBytes(t, c, "f.txt", []byte(body)); res.CaseFile {
			t.Errorf("%q matched: %+v", body, res)
		}
	}
}

func TestDocx(t *testing.T) {
	c := newClassifier(t, rules())
	plain := para("The child's social worker visited on Monday.")
	for _, tc := range []struct {
		name         string
		body, header string
		extra        []entry
	}{
		{name: "body", body: plain + para("OFFICIAL-SENSITIVE")},
		{name: "header", body: plain, header: para("OFFICIAL-SENSITIVE")},
		{name: "split across runs", body: plain, header: para("OFF", "ICIAL", "-SEN", "SITIVE")},
		{name: "non-breaking hyphen", body: `<w:p><w:r><w:t>OFFICIAL</w:t><w:noBreakHyphen/><w:t>SENSITIVE</w:t></w:r></w:p>`},
		{name: "entities", body: para("&#79;FFICIAL&#x2d;SENSITIVE &amp; more")},
		{name: "CDATA", body: `<w:p><w:r><w:t><![CDATA[OFFICIAL-]]></w:t><w:t>SENSITIVE</w:t></w:r></w:p>`},
		{name: "comment between runs", body: `<w:p><w:r><w:t>OFFICIAL-<!-- a > b --></w:t><w:t a="x>y">SENSITIVE</w:t></w:r></w:p>`},
		{name: "footer", body: plain, extra: []entry{{name: "word/footer2.xml", body: wordXML("ftr", para("Official-Sensitive"))}}},
		{name: "sensitivity label", body: plain, extra: []entry{{name: "docProps/custom.xml", body: `<Properties><property name="MSIP_Label_1_Name"><vt:lpwstr>OFFICIAL-SENSITIVE</vt:lpwstr></property></Properties>`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := classifyBytes(t, c, "/home/sam/Downloads/report.docx", makeDocx(t, tc.body, tc.header, tc.extra...))
			want := classify.Result{CaseFile: true, Rule: classify.RuleMarker, Marker: marker, Format: classify.FormatDocx, Read: res.Read}
			if res != want {
				t.Errorf("%+v, want %+v", res, want)
			}
		})
	}
	// The marker only where it is not read: in a part of no interest.
	doc := makeDocx(t, plain, para("Page 1"), entry{name: "word/styles.xml", body: wordXML("styles", para(marker)), store: false})
	if res := classifyBytes(t, c, "report.docx", doc); res.CaseFile || res.Format != classify.FormatDocx || res.Partial {
		t.Errorf("marker in styles.xml: %+v", res)
	}
	// Markers in attribute values and tag names are not text.
	doc = makeDocx(t, `<w:p w:rsid="OFFICIAL-SENSITIVE"><w:OFFICIAL-SENSITIVE/></w:p>`, "")
	if res := classifyBytes(t, c, "report.docx", doc); res.CaseFile {
		t.Errorf("marker in markup matched: %+v", res)
	}
}

func TestXlsx(t *testing.T) {
	c := newClassifier(t, rules())
	res := classifyBytes(t, c, "book.xlsx", makeXlsx(t, []string{"Name", "DOB", "OFFICIAL-SENSITIVE"}, "x"))
	if !res.CaseFile || res.Format != classify.FormatXlsx || res.Marker != marker {
		t.Errorf("shared strings: %+v", res)
	}
	res = classifyBytes(t, c, "book.xlsx", makeXlsx(t, []string{"Name"}, "casemgmt-export V2"))
	if !res.CaseFile || res.Marker != "CASEMGMT-EXPORT v2" {
		t.Errorf("inline string: %+v", res)
	}
	for _, cells := range [][]string{{"Name", "OFFICIAL-"}, {"OFFICIAL-", "SENSITIVE"}} {
		res = classifyBytes(t, c, "book.xlsx", makeXlsx(t, cells, "SENSITIVE"))
		if res.CaseFile {
			t.Errorf("text of two cells joined: %q: %+v", cells, res)
		}
	}
}

func TestOtherZips(t *testing.T) {
	c := newClassifier(t, rules())
	pptx := makeZip(t, entry{name: "ppt/presentation.xml", body: "<p/>"},
		entry{name: "ppt/slides/slide1.xml", body: `<p:sld><a:t>OFFICIAL-</a:t><a:t>SENSITIVE</a:t></p:sld>`})
	odt := makeZip(t, entry{name: "mimetype", body: "application/vnd.oasis.opendocument.text", store: true},
		entry{name: "content.xml", body: `<office:document-content/>`},
		entry{name: "styles.xml", body: `<style:header><text:p>OFFICIAL-SENSITIVE</text:p></style:header>`})
	other := makeZip(t, entry{name: "export/cases.csv", body: "CASEMGMT-EXPORT v2\nid,name\n"})
	for _, tc := range []struct {
		name   string
		b      []byte
		format string
	}{
		{"deck.pptx", pptx, classify.FormatPptx},
		{"letter.odt", odt, classify.FormatODF},
		{"export.zip", other, classify.FormatZip},
		{"renamed.bin", makeDocx(t, para(marker), ""), classify.FormatDocx},
	} {
		if res := classifyBytes(t, c, tc.name, tc.b); !res.CaseFile || res.Format != tc.format {
			t.Errorf("%s: %+v, want a case file read as %s", tc.name, res, tc.format)
		}
	}
}

func TestMagicWinsOverExtension(t *testing.T) {
	c := newClassifier(t, rules())
	// A .docx that is plain text is read as plain bytes.
	res := classifyBytes(t, c, "fake.docx", []byte("not a zip at all, but OFFICIAL-SENSITIVE"))
	if !res.CaseFile || res.Format != classify.FormatText {
		t.Errorf("text named .docx: %+v", res)
	}
	// A .txt that is a PDF is read as a PDF (the marker is only in a
	// compressed stream).
	res = classifyBytes(t, c, "notes.txt", onePagePDF("BT /F1 12 Tf (OFFICIAL-SENSITIVE) Tj ET", true))
	if !res.CaseFile || res.Format != classify.FormatPDF {
		t.Errorf("PDF named .txt: %+v", res)
	}
	// A .pdf that is a zip is read as a zip.
	res = classifyBytes(t, c, "scan.pdf", makeDocx(t, para(marker), ""))
	if !res.CaseFile || res.Format != classify.FormatDocx {
		t.Errorf("docx named .pdf: %+v", res)
	}
}

func TestPDF(t *testing.T) {
	c := newClassifier(t, rules())
	identity := makePDF(0,
		pdfObj{dict: "<< /Type /Catalog /Pages 2 0 R >>"},
		pdfObj{dict: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"},
		pdfObj{dict: "<< /Type /Page /Parent 2 0 R /Resources 7 0 R /Contents 5 0 R >>"},
		pdfObj{dict: "<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Calibri /Encoding /Identity-H /DescendantFonts [8 0 R] /ToUnicode 6 0 R >>"},
		// Glyph ids 0x0101.. for "OFFICIAL-SENSITIVE" through the map.
		pdfObj{dict: "/Filter /FlateDecode", stream: deflate([]byte("BT /C2_0 11 Tf <010101020102010301040103010901050106010701080110010701030116010301180108> Tj ET"))},
		pdfObj{dict: "/Filter /FlateDecode", stream: deflate([]byte(cmapSource))},
		pdfObj{dict: "<< /Font 9 0 R >>"},
		pdfObj{dict: "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Calibri >>"},
		pdfObj{dict: "<< /C2_0 4 0 R >>"},
	)
	info := "<< /Title (Chronology) /Subject <FEFF004F00460046004900430049" + "0041004C002D00530045004E0053004900540049005600450020> >>"
	objStm := fmt.Sprintf("4 0 5 %d ", len(info)+1) // object 4 at 0, object 5 after it
	objs := info + " << /Type /Font >>"
	inObjStm := makePDF(3,
		pdfObj{dict: "<< /Type /Catalog /Pages 2 0 R >>"},
		pdfObj{dict: "<< /Type /Pages /Kids [] /Count 0 >>"},
		pdfObj{dict: fmt.Sprintf("/Type /ObjStm /N 2 /First %d /Filter /FlateDecode", len(objStm)), stream: deflate([]byte(objStm + objs))},
	)
	a85 := pagePDF(ascii85(deflate([]byte("BT (OFFICIAL-SENSITIVE) Tj ET"))), "/Filter [/ASCII85Decode /FlateDecode]")

	for _, tc := range []struct {
		name string
		pdf  []byte
	}{
		{"flate stream", onePagePDF("BT /F1 12 Tf 72 712 Td (OFFICIAL-SENSITIVE) Tj ET", true)},
		{"uncompressed stream", onePagePDF("BT /F1 12 Tf 72 712 Td (OFFICIAL-SENSITIVE) Tj ET", false)},
		{"TJ with kerning", onePagePDF("BT /F1 12 Tf [(OFFI) -20 (CIAL) 15.5 (-SEN) -300 (SITIVE)] TJ ET", true)},
		{"Tj pieces and moves", onePagePDF("BT /F1 12 Tf (OFFICIAL) Tj 30 0 Td (-) Tj T* (SENSITIVE) ' ET", true)},
		{"escapes", onePagePDF(`BT (\117FF\111CIAL\055SENS\
ITIVE \(restricted\)) Tj ET`, true)},
		{"hex string", onePagePDF("BT <4f4646494349414c2d53454e5349544956 45> Tj ET", true)},
		{"WinAnsi en dash", onePagePDF("BT (OFFICIAL\\226SENSITIVE) Tj ET", true)},
		{"Identity-H font with ToUnicode", identity},
		{"info in object stream", inObjStm},
		{"ASCII85 and Flate", a85},
		{"info dictionary", makePDF(2, pdfObj{dict: "<< /Type /Catalog >>"}, pdfObj{dict: "<< /Title (Chronology) /Keywords (case, OFFICIAL\\055SENSITIVE) >>"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := classifyBytes(t, c, "scan.pdf", tc.pdf)
			want := classify.Result{CaseFile: true, Rule: classify.RuleMarker, Marker: marker, Format: classify.FormatPDF, Read: int64(len(tc.pdf))}
			if res != want {
				t.Errorf("%+v, want %+v", res, want)
			}
		})
	}

	// The same font without its ToUnicode map shows glyph ids, not text.
	noMap := bytes.Replace(identity, []byte("/ToUnicode 6 0 R"), []byte("/ToUnicode 99 0 R"), 1)
	if res := classifyBytes(t, c, "scan.pdf", noMap); res.CaseFile {
		t.Errorf("glyph ids read as text: %+v", res)
	}
	res := classifyBytes(t, c, "scan.pdf", onePagePDF("BT /F1 12 Tf (Nothing to see) Tj ET", true))
	if res.CaseFile || res.Partial || res.Format != classify.FormatPDF {
		t.Errorf("plain PDF: %+v", res)
	}
}

// cmapSource maps the codes of TestPDF's Identity-H font: 0101 O,
// 0102 F, 0103 I, 0104 C, 0105 L, 0106 -, 0107 S, 0108 E, 0109 A, and
// 0110 to 0119 N to W.
const cmapSource = `/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CMapName /Adobe-Identity-UCS def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
5 beginbfchar
<0101> <004F>
<0102> <0046>
<0105> <004C>
<0106> <002D>
<0109> <0041>
endbfchar
3 beginbfrange
<0103> <0104> [<0049> <0043>]
<0107> <0108> [<0053> <0045>]
<0110> <0119> <004E>
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end`

func ascii85(b []byte) []byte {
	var out bytes.Buffer
	w := a85.NewEncoder(&out)
	w.Write(b)
	w.Close()
	out.WriteString("~>")
	return out.Bytes()
}

func TestCaseRefFromText(t *testing.T) {
	c := newClassifier(t, rules())
	body := "OFFICIAL-SENSITIVE\n" + strings.Repeat("filler ", 20000) + "Case: LL-654321, court report"
	res := classifyBytes(t, c, "scan.txt", []byte(body))
	if !res.CaseFile || res.CaseRef != "LL-654321" {
		t.Errorf("%+v, want the case reference from the text", res)
	}
	doc := makeDocx(t, para("Case reference ", "LL-1", "23456"), para(marker))
	res = classifyBytes(t, c, "report.docx", doc)
	if !res.CaseFile || res.CaseRef != "LL-123456" {
		t.Errorf("docx: %+v", res)
	}
	// The name's reference wins over the text's.
	res = classifyBytes(t, c, "notes for QQ-111111.txt", []byte(body))
	if res.Rule != classify.RuleName || res.CaseRef != "QQ-111111" {
		t.Errorf("%+v", res)
	}
	// An anchored pattern means nothing in the middle of a text.
	r := rules()
	r.NamePattern = regexp.MustCompile(`^(?P<ref>[A-Z]{2}-[0-9]{6})`)
	res = classifyBytes(t, newClassifier(t, r), "scan.txt", []byte("LL-654321 "+body))
	if !res.CaseFile || res.CaseRef != "" {
		t.Errorf("anchored pattern searched in text: %+v", res)
	}
}

func TestFoldTable(t *testing.T) {
	if r := classify.FoldTableDisagrees(); r >= 0 {
		t.Errorf("the fold table is wrong for %U", r)
	}
}
