package classify

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/ascii85"
	"io"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// pdfHeader returns the offset of "%PDF-" in the first 1024 bytes of head
// (readers accept junk before it), or -1.
func pdfHeader(head []byte) int {
	return bytes.Index(head[:min(len(head), 1024)], []byte("%PDF-"))
}

// Limits on what is kept from one PDF, whatever it claims.
const (
	maxPDFStreams = 1 << 16 // streams looked at
	maxCMaps      = 256     // ToUnicode maps parsed
	// maxFontMapEntries bounds the entries kept of dictionaries that may
	// be /Font resources, over the whole file: object streams can hold
	// thousands of such dictionaries in a few kilobytes.
	maxFontMapEntries = 4096
	maxCMapChars      = 1 << 16 // single-code mappings in one map
	maxCMapRanges     = 1 << 13 // range mappings in one map
	maxFontCands      = 4       // fonts one resource name may stand for
	bigKern           = -180    // a TJ adjustment (thousandths of an em) read as a space
)

// pdf reads the text of a PDF from its first MaxBytes.
type pdf struct {
	j          *job
	out        textSink
	data       []byte
	streams    []pstream
	fonts      map[int]int            // font object → its ToUnicode stream
	names      map[string][]int       // font resource name → font objects
	direct     map[string][]int       // font resource name → ToUnicode stream, for fonts written in place
	maps       map[int]map[string]int // objects that may be a /Font resource dictionary
	fontDicts  []int                  // objects referred to as /Font resource dictionaries
	cmaps      map[int]*cmap
	encrypted  bool
	dec        []byte // a decoded stream
	txt        []byte // a decoded string
	cmapBuf    []byte // a decoded ToUnicode map
	cmapBudget int    // mappings that may still be kept
	mapBudget  int    // entries of possible /Font dictionaries that may still be kept
}

type pstream struct {
	num        int
	dict       value
	start, end int
}

// readPDF reads the first MaxBytes of a PDF, head being its first bytes,
// already read, and scans, in order: the raw bytes (uncompressed text,
// XMP metadata), every string in its objects (document information such as
// /Title, /Subject and /Keywords, bookmarks, annotations, form fields),
// and the text shown by its content streams, decoded through the fonts'
// ToUnicode maps when there are any.
func (j *job) readPDF(head []byte) string {
	n := min(j.br.size, j.c.maxBytes)
	data := make([]byte, n)
	got := copy(data, head)
	for got < len(data) {
		m, err := j.br.ReadAt(data[got:], int64(got))
		got += m
		if err != nil {
			break
		}
	}
	data = data[:got]
	cut := int64(got) < j.br.size

	j.sc.Write(data)
	j.sc.Break()
	p := &pdf{
		j:      j,
		out:    j.sc,
		data:   data,
		fonts:  map[int]int{},
		names:  map[string][]int{},
		direct: map[string][]int{},
		maps:   map[int]map[string]int{},
		cmaps:  map[int]*cmap{},

		cmapBudget: maxCMapEntries,
		mapBudget:  maxFontMapEntries,
	}
	if !j.done() {
		p.scan()
	}
	// A PDF ends with %%EOF (perhaps followed by a line break or junk): a
	// file without one in its last KiB was cut short.
	if cut || p.encrypted || !bytes.Contains(data[max(0, len(data)-1024):], []byte("%%EOF")) {
		j.mark()
	}
	return FormatPDF
}

func (p *pdf) scan() {
	l := &lexer{b: p.data}
	var prev [2]token
	for !p.j.done() {
		t := l.next()
		if t.kind == tEOF {
			break
		}
		switch {
		case t.kind == tKw && string(t.s) == "obj" && prev[0].kind == tNum && prev[0].intg && prev[1].kind == tNum && prev[1].intg:
			num := int(prev[0].num)
			l.values = maxValues
			v := l.parse(0)
			save := l.i
			if t := l.next(); t.kind == tKw && string(t.s) == "stream" {
				p.stream(l, num, v)
			} else {
				l.i = save
			}
			p.object(num, v)
			prev = [2]token{}
			continue
		case t.kind == tKw && string(t.s) == "trailer":
			l.values = maxValues
			p.object(-1, l.parse(0))
		case t.kind == tKw && string(t.s) == "stream":
			p.stream(l, -1, value{}) // a stream with no object: skip its data
		}
		prev[0], prev[1] = prev[1], t
	}
	if l.dropped {
		p.j.mark()
	}
	if p.j.cancelled() {
		return
	}

	// Objects kept in object streams, where PDF 1.5 and later put most
	// dictionaries (document information and fonts included).
	for i := range p.streams {
		if p.j.done() || p.j.cancelled() {
			return
		}
		s := &p.streams[i]
		if s.dict.get("Type").isName("ObjStm") {
			if b, ok := p.decode(s, p.dec); ok {
				p.dec = b
				p.objStm(s, b)
			}
		}
	}
	for _, num := range p.fontDicts {
		for name, font := range p.maps[num] {
			p.addFont(name, font)
		}
	}
	cmapStreams := map[int]bool{}
	for _, s := range p.fonts {
		cmapStreams[s] = true
	}
	for _, list := range p.direct {
		for _, s := range list {
			cmapStreams[s] = true
		}
	}

	for i := range p.streams {
		if p.j.done() || p.j.cancelled() {
			return
		}
		s := &p.streams[i]
		d := s.dict
		typ, sub := d.get("Type"), d.get("Subtype")
		switch {
		case cmapStreams[s.num], typ.isName("ObjStm"), typ.isName("XRef"),
			sub.isName("Image"), typ.isName("CMap"),
			d.get("Length1").kind != vNull, d.get("Length2").kind != vNull, d.get("Length3").kind != vNull,
			sub.isName("Type1C"), sub.isName("CIDFontType0C"), sub.isName("OpenType"),
			d.get("Alternate").kind != vNull: // an ICC colour profile
			continue // not text, or already read
		}
		b, ok := p.decode(s, p.dec)
		if !ok {
			continue
		}
		p.dec = b
		if typ.isName("Metadata") || typ.isName("EmbeddedFile") {
			p.out.Write(b)
		} else if !bytes.Contains(b[:min(len(b), 4096)], []byte("begincmap")) {
			p.content(b)
		}
		p.out.Break()
	}
}

// stream records the stream whose dictionary d was just read, l being
// just after the keyword "stream", and moves l past its data.
func (p *pdf) stream(l *lexer, num int, d value) {
	i := l.i
	if i < len(p.data) && p.data[i] == '\r' {
		i++
	}
	if i < len(p.data) && p.data[i] == '\n' {
		i++
	}
	start, end := i, -1
	// Trust /Length only when "endstream" is where it says.
	if n := d.get("Length"); n.kind == vNum && n.num >= 0 && n.num <= float64(len(p.data)-start) {
		e := start + int(n.num)
		k := e
		for k < len(p.data) && isSpace(p.data[k]) {
			k++
		}
		if bytes.HasPrefix(p.data[k:], []byte("endstream")) {
			end = e
			l.i = k + len("endstream")
		}
	}
	if end < 0 {
		k := bytes.Index(p.data[start:], []byte("endstream"))
		if k < 0 {
			end = len(p.data) // cut short
			l.i = end
		} else {
			end = start + k
			l.i = end + len("endstream")
			if end > start && p.data[end-1] == '\n' {
				end--
			}
			if end > start && p.data[end-1] == '\r' {
				end--
			}
		}
	}
	if num >= 0 && d.kind == vDict && len(p.streams) < maxPDFStreams {
		p.streams = append(p.streams, pstream{num: num, dict: d, start: start, end: end})
	}
}

// object takes what matters from one object: its strings, as text, and
// what it says about fonts.
func (p *pdf) object(num int, v value) {
	p.strings(v, 0)
	p.out.Break()
	if v.kind != vDict {
		return
	}
	if v.get("Encrypt").kind != vNull {
		p.encrypted = true
	}
	if u := v.get("ToUnicode"); u.kind == vRef && num >= 0 {
		p.fonts[num] = u.ref
	}
	// A dictionary of references only may be a page's /Font resources.
	if num >= 0 && len(v.dict) <= 1024 {
		refs := map[string]int{}
		for k, e := range v.dict {
			if e.kind != vRef {
				refs = nil
				break
			}
			refs[k] = e.ref
		}
		if len(refs) > 0 && len(refs) <= p.mapBudget {
			p.mapBudget -= len(refs)
			p.maps[num] = refs
		}
	}
	p.resources(v, 0)
}

// resources finds /Font resource dictionaries anywhere in v.
func (p *pdf) resources(v value, depth int) {
	if depth > maxDepth {
		return
	}
	switch v.kind {
	case vDict:
		if f := v.dict["Font"]; f.kind == vDict {
			for name, font := range f.dict {
				switch font.kind {
				case vRef:
					p.addFont(name, font.ref)
				case vDict:
					if u := font.get("ToUnicode"); u.kind == vRef && len(p.direct[name]) < maxFontCands {
						p.direct[name] = append(p.direct[name], u.ref)
					}
				}
			}
		} else if f.kind == vRef && len(p.fontDicts) < maxPDFStreams {
			p.fontDicts = append(p.fontDicts, f.ref)
		}
		for k, e := range v.dict {
			if k != "Font" && (e.kind == vDict || e.kind == vArr) {
				p.resources(e, depth+1)
			}
		}
	case vArr:
		for _, e := range v.arr {
			p.resources(e, depth+1)
		}
	}
}

func (p *pdf) addFont(name string, font int) {
	if l := p.names[name]; len(l) < maxFontCands && !slices.Contains(l, font) {
		p.names[name] = append(l, font)
	}
}

// strings writes every string in v as text.
func (p *pdf) strings(v value, depth int) {
	if depth > maxDepth {
		return
	}
	switch v.kind {
	case vStr:
		p.txt = textString(v.s, p.txt[:0])
		p.out.Write(p.txt)
		p.out.space()
	case vArr:
		for _, e := range v.arr {
			p.strings(e, depth+1)
		}
	case vDict:
		for _, e := range v.dict {
			p.strings(e, depth+1)
		}
	}
}

// objStm reads the objects in a decoded object stream: a header of
// object-number and offset pairs, then the objects from /First on.
func (p *pdf) objStm(s *pstream, b []byte) {
	first := s.dict.get("First")
	n := s.dict.get("N")
	if first.kind != vNum || n.kind != vNum || first.num < 0 || first.num > float64(len(b)) {
		p.j.mark()
		return
	}
	hl := &lexer{b: b[:int(first.num)]}
	body := b[int(first.num):]
	for k := 0; k < int(min(n.num, 1<<20)); k++ {
		num, off := hl.next(), hl.next()
		if num.kind != tNum || off.kind != tNum || off.num < 0 || off.num >= float64(len(body)) {
			break
		}
		l := &lexer{b: body, i: int(off.num), values: maxValues}
		p.object(int(num.num), l.parse(0))
		if l.dropped {
			p.j.mark()
		}
	}
}

// decode returns a stream's data through its filters, cut at MaxBytes and
// at what is left of MaxText. ok is false for a filter this package does
// not read (images' filters, LZW, predictors), which marks the result
// Partial unless the stream is an image.
func (p *pdf) decode(s *pstream, dst []byte) ([]byte, bool) {
	raw := p.data[s.start:s.end]
	var filters []string
	switch f := s.dict.get("Filter"); f.kind {
	case vName:
		filters = []string{string(f.s)}
	case vArr:
		for _, e := range f.arr {
			if e.kind == vName {
				filters = append(filters, string(e.s))
			}
		}
	}
	if hasPredictor(s.dict.get("DecodeParms")) {
		p.j.mark()
		return nil, false
	}
	var r io.Reader = bytes.NewReader(raw)
	for i, f := range filters {
		switch f {
		case "FlateDecode", "Fl":
			zr, err := zlib.NewReader(r)
			switch {
			case err == nil:
				r = zr
			case i == 0:
				r = flate.NewReader(bytes.NewReader(raw)) // raw deflate, without zlib's header
			default:
				p.j.mark()
				return nil, false
			}
		case "ASCIIHexDecode", "AHx":
			r = &hexReader{r: bufio.NewReader(r)}
		case "ASCII85Decode", "A85":
			r = ascii85.NewDecoder(&untilReader{r: bufio.NewReader(r), end: '~'})
		default:
			p.j.mark()
			return nil, false
		}
	}
	limit := min(p.j.c.maxBytes, p.j.textLeft)
	dst = dst[:0]
	var err error
	for int64(len(dst)) < limit {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, int(min(limit-int64(len(dst)), max(int64(cap(dst)), 4096))))
		}
		var m int
		m, err = r.Read(dst[len(dst):min(int64(cap(dst)), limit)])
		dst = dst[:len(dst)+m]
		if err != nil {
			break
		}
	}
	p.j.textLeft -= int64(len(dst))
	switch {
	case err == nil: // stopped at the limit: was there more?
		var one [1]byte
		if n, _ := r.Read(one[:]); n > 0 {
			p.j.mark()
		}
	case err != io.EOF:
		p.j.mark() // corrupt or cut short
	}
	if s.end == len(p.data) && int64(len(p.data)) < p.j.br.size {
		p.j.mark()
	}
	return dst, true
}

func hasPredictor(v value) bool {
	switch v.kind {
	case vDict:
		pr := v.get("Predictor")
		return pr.kind == vNum && pr.num > 1
	case vArr:
		for _, e := range v.arr {
			if hasPredictor(e) {
				return true
			}
		}
	}
	return false
}

// hexReader decodes ASCIIHexDecode data up to its '>'.
type hexReader struct {
	r    *bufio.Reader
	done bool
}

func (h *hexReader) Read(p []byte) (int, error) {
	n := 0
	var hi byte
	odd := false
	for n < len(p) && !h.done {
		c, err := h.r.ReadByte()
		if err != nil || c == '>' {
			h.done = true
			break
		}
		v, ok := unhex(c)
		if !ok {
			continue
		}
		if odd {
			p[n] = hi<<4 | v
			n++
		} else {
			hi = v
		}
		odd = !odd
	}
	if odd && n < len(p) {
		p[n] = hi << 4
		n++
	}
	if n == 0 && h.done {
		return 0, io.EOF
	}
	return n, nil
}

// untilReader reads r up to the byte end (ASCII85's "~>").
type untilReader struct {
	r    *bufio.Reader
	end  byte
	done bool
}

func (u *untilReader) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		c, err := u.r.ReadByte()
		if err != nil || c == u.end {
			u.done = true
			break
		}
		p[n] = c
		n++
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// content writes the text a content stream shows: the strings of Tj, TJ,
// ' and ", through the current font's ToUnicode map when it has one.
func (p *pdf) content(b []byte) {
	l := &lexer{b: b}
	var ops []value
	var font []*cmap
	show := func(s []byte) { p.showText(font, s) }
	for n := 0; ; n++ {
		if n&1023 == 0 && (p.j.done() || p.j.cancelled()) {
			return
		}
		t := l.next()
		switch t.kind {
		case tEOF:
			return
		case tKw:
			if p.j.textLeft <= 0 {
				p.j.mark()
				return
			}
			switch string(t.s) {
			case "Tj":
				if k := len(ops); k > 0 && ops[k-1].kind == vStr {
					show(ops[k-1].s)
				}
			case "'", "\"":
				p.out.space()
				if k := len(ops); k > 0 && ops[k-1].kind == vStr {
					show(ops[k-1].s)
				}
			case "TJ":
				// Its array's text was shown as it was read.
			case "Tf":
				if k := len(ops); k > 1 && ops[k-2].kind == vName {
					font = p.font(string(ops[k-2].s))
				}
			case "ET", "T*":
				p.out.space()
			case "ID":
				// Inline image data runs to "EI" between whitespace.
				skipInlineImage(l)
			}
			ops = ops[:0]
		case tArrO:
			// Arrays in content are TJ's (strings and adjustments) or
			// dash patterns (numbers): shown as read, never kept, however
			// long they are.
			for depth := 1; depth > 0; {
				t := l.next()
				switch {
				case t.kind == tEOF:
					return
				case t.kind == tArrO:
					depth++
				case t.kind == tArrC:
					depth--
				case t.kind == tStr:
					show(t.s)
				case t.kind == tNum && t.num < bigKern:
					p.out.space()
				}
			}
			ops = append(ops, value{kind: vArr})
		default:
			if len(ops) >= 64 {
				ops = ops[:0] // no operator takes this many operands
			}
			l.values = 1 << 10
			ops = append(ops, l.parseFrom(t, 0))
		}
	}
}

func skipInlineImage(l *lexer) {
	b := l.b
	for i := l.i + 1; i+1 < len(b); i++ {
		if b[i] == 'E' && b[i+1] == 'I' && isSpace(b[i-1]) && (i+2 == len(b) || isSpace(b[i+2])) {
			l.i = i + 2
			return
		}
	}
	l.i = len(b)
}

// font returns the ToUnicode maps of the fonts a resource name may stand
// for (a name is per page, and pages are not told apart here).
func (p *pdf) font(name string) []*cmap {
	var list []*cmap
	add := func(stream int) {
		if m := p.cmap(stream); m != nil && !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	for _, s := range p.direct[name] {
		add(s)
	}
	for _, f := range p.names[name] {
		if s, ok := p.fonts[f]; ok {
			add(s)
		}
	}
	return list
}

// cmap returns the parsed ToUnicode map in stream object num, or nil.
func (p *pdf) cmap(num int) *cmap {
	if m, ok := p.cmaps[num]; ok {
		return m
	}
	if len(p.cmaps) >= maxCMaps {
		return nil
	}
	p.cmaps[num] = nil
	for i := range p.streams {
		if p.streams[i].num == num {
			// Not into p.dec, which holds the content being read.
			if b, ok := p.decode(&p.streams[i], p.cmapBuf); ok {
				p.cmapBuf = b
				m := parseCMap(b, &p.cmapBudget)
				p.cmaps[num] = m
				return m
			}
			break
		}
	}
	return nil
}

// showText writes the text of a shown string: through the map that
// decodes most of its codes, or else byte by byte as Windows-1252, which
// is right for the standard encodings' ASCII range. The text is written in
// pieces and counted against MaxText, since a map may turn one byte into
// several characters.
func (p *pdf) showText(maps []*cmap, s []byte) {
	var best *cmap
	bestN := 0
	for _, m := range maps {
		if n := m.count(s); n > bestN {
			best, bestN = m, n
		}
	}
	out := p.txt[:0]
	for len(s) > 0 && p.j.textLeft > 0 {
		if best != nil {
			var n int
			out, n = best.decode(s, out, 4096)
			s = s[n:]
		} else {
			k := min(len(s), 1024)
			for _, c := range s[:k] {
				out = utf8.AppendRune(out, cp1252(c))
			}
			s = s[k:]
		}
		p.j.textLeft -= int64(len(out))
		p.out.Write(out)
		out = out[:0]
	}
	p.txt = out
	if len(s) > 0 {
		p.j.mark()
	}
}

// textString decodes a PDF text string (7.9.2.2): UTF-16BE after a
// byte-order mark, UTF-8 after one, else PDFDocEncoding, read here as
// Windows-1252, which agrees with it on letters and digits.
func textString(s []byte, out []byte) []byte {
	switch {
	case len(s) >= 2 && s[0] == 0xfe && s[1] == 0xff:
		return appendUTF16BE(out, s[2:])
	case len(s) >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf:
		return append(out, s[3:]...)
	}
	for _, c := range s {
		out = utf8.AppendRune(out, cp1252(c))
	}
	return out
}

func appendUTF16BE(out []byte, s []byte) []byte {
	u := make([]uint16, 0, len(s)/2)
	for i := 0; i+1 < len(s); i += 2 {
		u = append(u, uint16(s[i])<<8|uint16(s[i+1]))
	}
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

var cp1252High = [32]rune{
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
}

func cp1252(c byte) rune {
	if 0x80 <= c && c < 0xa0 {
		return cp1252High[c-0x80]
	}
	return rune(c)
}
