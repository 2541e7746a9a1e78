package classify

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
)

// isZip reports whether b starts like a zip file: a local file header, or
// the end record of an empty archive.
func isZip(b []byte) bool {
	return len(b) >= 4 && b[0] == 'P' && b[1] == 'K' &&
		(b[2] == 3 && b[3] == 4 || b[2] == 5 && b[3] == 6)
}

// zipKind tells which kind of document a zip holds from the names of its
// entries, or from the file's extension when the names do not say.
func zipKind(names func(yield func(string) bool), extension string) string {
	kind := ""
	for n := range names {
		switch strings.ToLower(n) {
		case "word/document.xml":
			return FormatDocx
		case "xl/workbook.xml":
			return FormatXlsx
		case "ppt/presentation.xml":
			return FormatPptx
		case "content.xml", "mimetype":
			kind = FormatODF
		}
	}
	if kind != "" {
		return kind
	}
	switch extension {
	case "docx", "docm", "dotx", "dotm":
		return FormatDocx
	case "xlsx", "xlsm", "xltx", "xltm":
		return FormatXlsx
	case "pptx", "pptm", "potx", "ppsx":
		return FormatPptx
	case "odt", "ods", "odp", "ott", "ots", "otp":
		return FormatODF
	}
	return FormatZip
}

// partRank says whether an entry of a document of the given kind is read
// and in which order (lower first): the places where a classification
// marking usually sits (a sensitivity label in the custom properties,
// page headers and footers) come before the body. xml is false for entries
// read as plain bytes; sepAll for document properties, whose every element
// is a separate value.
func partRank(kind, name string) (rank int, xml, sepAll, ok bool) {
	n := strings.ToLower(name)
	like := func(prefix, suffix string) bool {
		return strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) &&
			!strings.Contains(n[len(prefix):], "/")
	}
	switch {
	case kind == FormatZip:
		return 0, false, false, !strings.HasSuffix(n, "/")
	case n == "docprops/custom.xml":
		return 0, true, true, true
	case n == "docprops/core.xml":
		return 3, true, true, true
	}
	switch kind {
	case FormatDocx:
		switch {
		case like("word/header", ".xml"), like("word/footer", ".xml"):
			return 1, true, false, true
		case like("word/document", ".xml"):
			return 2, true, false, true
		case n == "word/footnotes.xml", n == "word/endnotes.xml", like("word/comments", ".xml"):
			return 4, true, false, true
		}
	case FormatXlsx:
		switch {
		case n == "xl/sharedstrings.xml":
			return 1, true, false, true
		case like("xl/worksheets/sheet", ".xml"):
			return 2, true, false, true
		case like("xl/comments", ".xml"):
			return 4, true, false, true
		}
	case FormatPptx:
		switch {
		case like("ppt/slides/slide", ".xml"):
			return 1, true, false, true
		case like("ppt/notesslides/notesslide", ".xml"):
			return 4, true, false, true
		}
	case FormatODF:
		switch n {
		case "styles.xml": // page headers and footers
			return 1, true, false, true
		case "content.xml":
			return 2, true, false, true
		case "meta.xml":
			return 3, true, true, true
		}
	}
	return 0, false, false, false
}

// readZip reads an Office document, an OpenDocument or another zip through
// its central directory, or, if that cannot be read, by walking its local
// headers from the start.
func (j *job) readZip(extension string) string {
	// The central directory may take half the budget; past that the
	// entries are found by walking the local headers with the other half.
	dir := &capReader{r: j.br, left: j.br.left / 2}
	// archive/zip allocates room for as many entries as the directory
	// claims; a sparse file can claim billions in a few bytes. A claim the
	// directory budget could not hold is read by walking instead.
	if zipClaimsTooMany(dir, j.br.size, uint64(dir.left/46)) {
		if j.br.err != nil {
			return zipKind(noNames, extension)
		}
		j.mark()
		return j.walkZip(extension)
	}
	zr, err := zip.NewReader(dir, j.br.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if j.br.err != nil {
			return zipKind(noNames, extension)
		}
		j.mark()
		return j.walkZip(extension)
	}
	dir.left = math.MaxInt64 // the entries may use the rest of the budget
	kind := zipKind(func(yield func(string) bool) {
		for _, f := range zr.File {
			if !yield(f.Name) {
				return
			}
		}
	}, extension)
	type part struct {
		f           *zip.File
		rank        int
		xml, sepAll bool
	}
	var parts []part
	for _, f := range zr.File {
		if rank, xml, sepAll, ok := partRank(kind, f.Name); ok {
			parts = append(parts, part{f, rank, xml, sepAll})
		}
	}
	// Stable: within a rank, natural order (header1 before header2).
	slices.SortStableFunc(parts, func(a, b part) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return naturalCompare(a.f.Name, b.f.Name)
	})
	for _, p := range parts {
		if j.done() {
			break
		}
		if j.textLeft <= 0 || j.br.left <= 0 {
			j.mark()
			break
		}
		if p.f.Method != zip.Store && p.f.Method != zip.Deflate || p.f.Flags&flagEncrypted != 0 {
			j.mark() // another compression method (Deflate64, bzip2…), or encrypted
			continue
		}
		rc, err := p.f.Open()
		if err != nil {
			j.mark()
			continue
		}
		j.scanEntry(rc, p.xml, p.sepAll)
		rc.Close()
	}
	return kind
}

// scanEntry scans one entry's decompressed bytes, counting them against
// MaxText.
func (j *job) scanEntry(r io.Reader, xml, sepAll bool) {
	var sink io.Writer = j.sc
	if xml {
		sink = &xmlText{out: j.sc, sepAll: sepAll}
	}
	buf := *j.chunk
	for !j.done() && !j.cancelled() {
		if j.textLeft <= 0 {
			j.mark()
			break
		}
		n, err := r.Read(buf[:min(int64(len(buf)), j.textLeft)])
		j.textLeft -= int64(n)
		sink.Write(buf[:n])
		j.sc.check()
		if err == io.EOF {
			break
		}
		if err != nil {
			j.mark()
			break
		}
	}
	j.sc.Break()
}

// Local file header fields, from the zip specification (APPNOTE 4.3.7).
const (
	localHeaderLen = 30
	localSig       = 0x04034b50
	centralSig     = 0x02014b50
	descriptorSig  = 0x08074b50
	flagDescriptor = 0x8
	flagEncrypted  = 0x1
)

// walkZip reads a zip whose central directory is missing or broken, such
// as one cut short, by walking its local headers from the start, reading
// the entries a document of its kind is read for, in the order they are
// stored. An entry whose compressed size is not in its header (it follows
// the data) is read to the end of its deflate stream to find the next
// header.
func (j *job) walkZip(extension string) string {
	kind := zipKind(noNames, extension)
	off := int64(0)
	var hdr [localHeaderLen]byte
	nameBuf := make([]byte, 0, 256)
	for !j.done() {
		if _, err := j.br.ReadAt(hdr[:], off); err != nil {
			break
		}
		if binary.LittleEndian.Uint32(hdr[0:]) != localSig {
			break // the central directory, or garbage
		}
		flags := binary.LittleEndian.Uint16(hdr[6:])
		method := binary.LittleEndian.Uint16(hdr[8:])
		csize := int64(binary.LittleEndian.Uint32(hdr[18:]))
		nameLen := int64(binary.LittleEndian.Uint16(hdr[26:]))
		extraLen := int64(binary.LittleEndian.Uint16(hdr[28:]))
		if int64(cap(nameBuf)) < nameLen {
			nameBuf = make([]byte, nameLen)
		}
		nameBuf = nameBuf[:nameLen]
		if _, err := j.br.ReadAt(nameBuf, off+localHeaderLen); err != nil {
			break
		}
		name := string(nameBuf)
		if k := walkKind(name); k != "" {
			kind = k
		}
		data := off + localHeaderLen + nameLen + extraLen
		known := flags&flagDescriptor == 0 && csize != 0xffffffff
		_, xml, sepAll, want := partRank(kind, name)
		if flags&flagEncrypted != 0 || method != zip.Store && method != zip.Deflate {
			want = false
		}
		if !known && method == zip.Store {
			// Stored with its sizes after the data: the data ends at a
			// descriptor whose size says so.
			end, next, ok := j.findDescriptor(data)
			if !ok {
				break
			}
			csize, known = end-data, true
			if !want {
				off = next
				continue
			}
			j.scanEntry(io.NewSectionReader(j.br, data, csize), xml, sepAll)
			off = next
			continue
		}
		if !want && known {
			off = data + csize
			continue
		}
		// Read the entry, or for an unwanted entry of unknown length find
		// its end by inflating it, which counts against MaxText too.
		sr := &countReader{r: bufio.NewReaderSize(&sectionReader{b: j.br, off: data}, 4096)}
		var body io.Reader = io.LimitReader(sr, csize)
		if method == zip.Deflate {
			body = flate.NewReader(sr)
		}
		if want {
			j.scanEntry(body, xml, sepAll)
		} else {
			j.discard(body)
		}
		if j.done() {
			break
		}
		if known {
			off = data + csize
			continue
		}
		// The data descriptor: an optional signature, the CRC-32, and
		// sizes of 4 or 8 bytes each. Look for the next header just after.
		next := data + sr.n
		var look [32]byte
		n, _ := j.br.ReadAt(look[:], next)
		i := bytes.Index(look[:n], []byte("PK\x03\x04"))
		if i < 0 {
			break
		}
		off = next + int64(i)
	}
	return kind
}

// noNames is an empty list of entry names.
func noNames(func(string) bool) {}

// walkKind tells the kind of document from one entry's name, or "".
func walkKind(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasPrefix(n, "word/"):
		return FormatDocx
	case strings.HasPrefix(n, "xl/"):
		return FormatXlsx
	case strings.HasPrefix(n, "ppt/"):
		return FormatPptx
	case n == "mimetype" || n == "content.xml" || n == "styles.xml":
		return FormatODF
	}
	return ""
}

// findDescriptor looks from data on for the data descriptor of a stored
// entry: its signature, then a CRC-32 and the sizes, the compressed size
// being the distance from data to the signature. It returns where the data
// ends and where the next header starts.
func (j *job) findDescriptor(data int64) (end, next int64, ok bool) {
	sig := []byte("PK\x07\x08")
	buf := (*j.chunk)[:chunkSize]
	for off := data; !j.done(); {
		n, err := j.br.ReadAt(buf, off)
		for i := 0; ; i++ {
			k := bytes.Index(buf[i:n], sig)
			if k < 0 {
				break
			}
			i += k
			pos := off + int64(i)
			var d [20]byte
			m, _ := j.br.ReadAt(d[:], pos+4)
			if m >= 12 && int64(binary.LittleEndian.Uint32(d[4:])) == pos-data {
				return pos, pos + 16, true
			}
			if m >= 20 && int64(binary.LittleEndian.Uint64(d[4:])) == pos-data {
				return pos, pos + 24, true // zip64
			}
		}
		if err != nil || n < len(sig) {
			return 0, 0, false
		}
		off += int64(n - len(sig) + 1) // a signature may straddle two reads
	}
	return 0, 0, false
}

// discard reads r to its end, counting the bytes against MaxText.
func (j *job) discard(r io.Reader) {
	buf := *j.chunk
	for !j.cancelled() {
		if j.textLeft <= 0 {
			j.mark()
			return
		}
		n, err := r.Read(buf[:min(int64(len(buf)), j.textLeft)])
		j.textLeft -= int64(n)
		if err == io.EOF {
			return
		}
		if err != nil {
			j.mark()
			return
		}
	}
}

// countReader counts the bytes taken from a bufio.Reader, which flate
// reads a byte at a time through io.ByteReader, so that the end of a
// deflate stream is known exactly.
type countReader struct {
	r *bufio.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// naturalCompare orders names with runs of digits compared as numbers,
// so sheet2.xml comes before sheet10.xml.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digits(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// zipClaimsTooMany reports whether the zip's end-of-directory record (or
// its zip64 record) claims more than max entries. Whatever cannot be read
// claims nothing: archive/zip then fails on its own.
func zipClaimsTooMany(r io.ReaderAt, size int64, max uint64) bool {
	const eocdLen, maxComment = 22, 65535
	tailLen := min(size, eocdLen+maxComment)
	if tailLen < eocdLen {
		return false
	}
	tail := make([]byte, tailLen)
	if n, _ := r.ReadAt(tail, size-tailLen); int64(n) != tailLen {
		return false
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || len(tail)-i < eocdLen {
		return false
	}
	eocd := tail[i:]
	if n := uint64(binary.LittleEndian.Uint16(eocd[10:12])); n != 0xffff {
		return n > max
	}
	// zip64: the locator sits just before the end record and says where
	// the zip64 end record is.
	loc := int64(i) - 20
	if loc < 0 || !bytes.Equal(tail[loc:loc+4], []byte("PK\x06\x07")) {
		return true // claims 65535 or more with no zip64 record to say how many
	}
	off := binary.LittleEndian.Uint64(tail[loc+8 : loc+16])
	if off > uint64(size)-56 || size < 56 {
		return false
	}
	rec := make([]byte, 56)
	if n, _ := r.ReadAt(rec, int64(off)); n != 56 || !bytes.Equal(rec[:4], []byte("PK\x06\x06")) {
		return false
	}
	return binary.LittleEndian.Uint64(rec[32:40]) > max
}
