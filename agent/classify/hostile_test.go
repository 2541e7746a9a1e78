package classify_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/classify"
)

// peakHeap runs f and returns the most heap in use above what was in use
// before, sampled every millisecond.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// TestLargeSparseFile classifies a 200 MiB sparse file with a marker
// placed before, across and after the MaxBytes boundary: only MaxBytes are
// ever read, never past them, and only a marker wholly within them counts.
func TestLargeSparseFile(t *testing.T) {
	const size = 200 << 20
	c := newClassifier(t, rules())
	limit := c.MaxBytes()
	for _, head := range []string{"", "%PDF-1.7\n", "%PDF-1.7\n1 0 obj\n<< /Length 999999999 >>\nstream\n"} {
		for _, tc := range []struct {
			off  int64
			want bool
		}{
			{1000, true},
			{limit - int64(len(marker)), true},
			{limit - int64(len(marker)) + 1, false},
			{limit + 100, false},
			{size - int64(len(marker)), false},
		} {
			name := filepath.Join(t.TempDir(), "big.txt")
			f, err := os.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte(head), 0)
			f.WriteAt([]byte(marker), tc.off)
			cr := &counter{r: f}
			res, err := c.Classify(context.Background(), "Downloads/big.txt", cr, size)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.CaseFile != tc.want || res.Partial == tc.want || res.Read != cr.read || cr.read > limit || cr.end > limit {
				t.Errorf("head %q, marker at %d: %+v; read %d bytes, up to offset %d; want case file %v within %d bytes",
					head, tc.off, res, cr.read, cr.end, tc.want, limit)
			}
		}
	}
}

// TestLargeZipNeverReadsMore classifies sparse 200 MiB files that start
// with a Word document: with its central directory only at the start
// (past the end of the document, where readers do not look for it, so
// the entries are found by walking from the start) and with a copy at the
// end (where readers look). Reads at the end are allowed, but the total
// stays within MaxBytes.
func TestLargeZipNeverReadsMore(t *testing.T) {
	const size = 200 << 20
	c := newClassifier(t, rules())
	doc := makeDocx(t, para("nothing"), para(marker))
	for _, withDir := range []bool{false, true} {
		name := filepath.Join(t.TempDir(), "big.docx")
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(size)
		f.WriteAt(doc, 0)
		if withDir {
			end := doc[bytes.LastIndex(doc, []byte("PK\x01\x02")):]
			f.WriteAt(end, size-int64(len(end)))
		}
		cr := &counter{r: f}
		res, err := c.Classify(context.Background(), "big.docx", cr, size)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !res.CaseFile || res.Partial != !withDir || cr.read > c.MaxBytes() || res.Read != cr.read {
			t.Errorf("directory at the end %v: %+v, read %d", withDir, res, cr.read)
		}
	}
}

// zeroDeflate returns a deflate stream of n zero bytes (n a multiple of
// 16 MiB), made by repeating one flushed, byte-aligned piece.
func zeroDeflate(t testing.TB, n int64) ([]byte, uint32) {
	t.Helper()
	const piece = 16 << 20
	var one bytes.Buffer
	w, _ := flate.NewWriter(&one, flate.BestCompression)
	w.Write(make([]byte, piece))
	w.Flush()
	out := bytes.Repeat(one.Bytes(), int(n/piece))
	out = append(out, 0x03, 0x00) // an empty final block
	crc := uint32(0)
	zero := make([]byte, 1<<20)
	for range n >> 20 {
		crc = crc32.Update(crc, crc32.IEEETable, zero)
	}
	return out, crc
}

// TestZipBomb classifies Word documents whose body inflates to 1 GiB,
// with honest and lying sizes, and a PDF whose content stream does: each
// takes little time and memory and says Partial.
func TestZipBomb(t *testing.T) {
	body, crc := zeroDeflate(t, 1<<30)
	c := newClassifier(t, rules())
	for _, claimed := range []uint64{1 << 30, 100} {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		f, _ := w.Create("[Content_Types].xml")
		io.WriteString(f, contentTypes)
		raw, err := w.CreateRaw(&zip.FileHeader{Name: "word/document.xml", Method: zip.Deflate,
			CRC32: crc, CompressedSize64: uint64(len(body)), UncompressedSize64: claimed})
		if err != nil {
			t.Fatal(err)
		}
		raw.Write(body)
		f, _ = w.Create("word/footnotes.xml")
		io.WriteString(f, wordXML("footnotes", para(marker)))
		w.Close()
		b := buf.Bytes()
		start := time.Now()
		var res classify.Result
		peak := peakHeap(func() { res = classifyBytes(t, c, "bomb.docx", b) })
		took := time.Since(start)
		t.Logf("claimed %d: %+v in %v, peak heap +%.1f MiB", claimed, res, took, float64(peak)/(1<<20))
		// Honest sizes: MaxText runs out in the body, and the footnotes
		// are never read. Lying sizes: the body is corrupt once it
		// inflates past what it claims, and the footnotes are read.
		if lies := claimed == 100; res.CaseFile != lies || !res.Partial || res.Format != classify.FormatDocx {
			t.Errorf("claimed %d: %+v, want Partial, case file %v", claimed, res, lies)
		}
		if peak > 48<<20 || took > time.Minute {
			t.Errorf("claimed %d: peak heap +%d bytes, %v", claimed, peak, took)
		}
	}

	zl := append([]byte{0x78, 0xda}, body...) // zlib header; the checksum is never reached
	pdf := pagePDF(zl, "/Filter /FlateDecode")
	var res classify.Result
	peak := peakHeap(func() { res = classifyBytes(t, c, "bomb.pdf", pdf) })
	t.Logf("PDF: %+v, peak heap +%.1f MiB", res, float64(peak)/(1<<20))
	if res.CaseFile || !res.Partial || peak > 48<<20 {
		t.Errorf("PDF bomb: %+v, peak heap +%d", res, peak)
	}
}

// TestMaxText checks that decompressed text beyond MaxText is not
// examined.
func TestMaxText(t *testing.T) {
	filler := para(strings.Repeat("The visit went well. ", 50))
	body := strings.Repeat(filler, (5<<20)/len(filler)) + para(marker)
	doc := makeDocx(t, body, "")
	r := rules()
	res := classifyBytes(t, newClassifier(t, r), "long.docx", doc)
	if !res.CaseFile || res.Partial {
		t.Errorf("default MaxText: %+v", res)
	}
	r.MaxText = 1 << 20
	res = classifyBytes(t, newClassifier(t, r), "long.docx", doc)
	if res.CaseFile || !res.Partial {
		t.Errorf("MaxText 1 MiB: %+v", res)
	}
}

// TestManyEntries classifies zips with many entries: a directory within
// half the budget is read (and the marker found); a larger one is not,
// and the walk from the start runs out of budget.
func TestManyEntries(t *testing.T) {
	c := newClassifier(t, rules())
	for _, tc := range []struct {
		n    int
		want bool
	}{{5000, true}, {100000, false}} {
		es := []entry{{name: "[Content_Types].xml", body: contentTypes}}
		for i := range tc.n {
			es = append(es, entry{name: fmt.Sprintf("word/media/i%06d", i), store: true})
		}
		es = append(es, entry{name: "word/document.xml", body: wordXML("document", para(marker))})
		b := makeZip(t, es...)
		start := time.Now()
		res := classifyBytes(t, c, "many.docx", b)
		t.Logf("%d entries (%d bytes): %+v in %v", tc.n, len(b), res, time.Since(start))
		if res.CaseFile != tc.want || res.Partial == tc.want {
			t.Errorf("%d entries: %+v, want case file %v", tc.n, res, tc.want)
		}
	}
}

func TestTruncatedDocxIsWalked(t *testing.T) {
	c := newClassifier(t, rules())
	doc := makeDocx(t, para("plain body"), para(marker))
	i := bytes.Index(doc, []byte("PK\x01\x02")) // the central directory
	for _, cut := range []int{i, i - 10} {
		res := classifyBytes(t, c, "cut.docx", doc[:cut])
		if cut == i && (!res.CaseFile || !res.Partial || res.Format != classify.FormatDocx) {
			t.Errorf("cut at the directory: %+v, want the marker found by walking", res)
		}
		if cut < i && !res.Partial {
			t.Errorf("cut in the last entry: %+v", res)
		}
	}
	// With data descriptors (sizes after the data), as streaming writers
	// such as Go's make them, deflated and stored, the marker in the last
	// entry.
	for _, store := range []bool{false, true} {
		b := makeZip(t,
			entry{name: "word/media/image1.png", body: "\x89PNG PK\x07\x08 not a descriptor", store: store},
			entry{name: "word/document.xml", body: wordXML("document", para("body")), store: store},
			entry{name: "word/header1.xml", body: wordXML("hdr", para(marker)), store: store})
		if b[6]&0x8 == 0 { // the first local header's flags
			t.Fatal("the writer no longer writes data descriptors")
		}
		b = b[:bytes.Index(b, []byte("PK\x01\x02"))]
		if res := classifyBytes(t, c, "streamed.docx", b); !res.CaseFile || !res.Partial {
			t.Errorf("walked with data descriptors (stored %v): %+v", store, res)
		}
	}
}

// samples returns files of each format with and without a marker.
func samples(t testing.TB) (marked, clean map[string][]byte) {
	marked = map[string][]byte{
		"a.docx": makeDocx(t, para("body text here", "more body"), para("OFFI", "CIAL-SENSITIVE")),
		"a.xlsx": makeXlsx(t, []string{"Name", "OFFICIAL-SENSITIVE"}, "x"),
		"a.pdf":  onePagePDF("BT /F1 12 Tf 72 712 Td (Case notes) Tj T* (OFFICIAL-SENSITIVE) Tj ET", true),
		"a.txt":  []byte("Chronology\nOFFICIAL-SENSITIVE\n"),
	}
	clean = map[string][]byte{
		"b.docx": makeDocx(t, para("body text here", "more body"), para("Page header")),
		"b.xlsx": makeXlsx(t, []string{"Name", "OFFICIAL"}, "x"),
		"b.pdf":  onePagePDF("BT /F1 12 Tf 72 712 Td (Case notes) Tj ET", true),
	}
	for _, name := range []string{"cairo-marker.pdf", "objstm-marker.pdf", "cairo-clean.pdf"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(name, "clean") {
			clean[name] = b
		} else {
			marked[name] = b
		}
	}
	return marked, clean
}

func TestSamples(t *testing.T) {
	c := newClassifier(t, rules())
	marked, clean := samples(t)
	for name, b := range marked {
		if res := classifyBytes(t, c, name, b); !res.CaseFile || res.Partial {
			t.Errorf("%s: %+v, want a case file", name, res)
		}
	}
	for name, b := range clean {
		if res := classifyBytes(t, c, name, b); res.CaseFile || res.Partial {
			t.Errorf("%s: %+v, want not a case file, not partial", name, res)
		}
	}
}

// TestCorrupt truncates, bit-flips and garbles every sample: never an
// error or a panic, never more than MaxBytes read, never a marker that is
// not there, and a cut or garbled file says Partial unless its marker was
// found.
func TestCorrupt(t *testing.T) {
	c := newClassifier(t, rules())
	marked, clean := samples(t)
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(name string, b []byte, isClean, mustBePartial bool) {
		t.Helper()
		res := classifyBytes(t, c, name, b)
		if isClean && res.CaseFile {
			t.Errorf("%s (%d bytes): a marker found in a clean file: %+v", name, len(b), res)
		}
		if mustBePartial && !res.Partial && !res.CaseFile {
			t.Errorf("%s (%d bytes): %+v, want Partial", name, len(b), res)
		}
	}
	for _, set := range []map[string][]byte{marked, clean} {
		for name, b := range set {
			if strings.HasSuffix(name, ".txt") {
				continue
			}
			_, isClean := clean[name]
			for k := 1; k < 64; k++ {
				check(name, b[:len(b)*k/64], isClean, true)
			}
			for range 200 {
				f := bytes.Clone(b)
				for range 1 + rng.IntN(4) {
					f[rng.IntN(len(f))] ^= 1 << rng.IntN(8)
				}
				check(name, f, isClean, false)
			}
			for range 20 {
				f := bytes.Clone(b)
				i := rng.IntN(len(f))
				for k := i; k < min(len(f), i+1+rng.IntN(200)); k++ {
					f[k] = byte(rng.Uint32())
				}
				check(name, f, isClean, false)
			}
		}
	}
	for _, magic := range []string{"PK\x03\x04", "PK\x05\x06", "%PDF-1.4\n"} {
		g := make([]byte, 10000)
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		copy(g, magic)
		check("garbage", g, true, true)
	}
}

func TestContextCancelled(t *testing.T) {
	c := newClassifier(t, rules())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Classify(ctx, "a.txt", strings.NewReader("OFFICIAL-SENSITIVE"), 18); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	big := bytes.Repeat([]byte("no marker here. "), 1<<16)
	for name, b := range map[string][]byte{
		"big.txt":  big,
		"big.docx": makeDocx(t, para(string(big[:200<<10])), ""),
		"big.pdf":  onePagePDF("BT ("+string(big[:200<<10])+") Tj ET", true),
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var after atomic.Int32
		cr := &counter{r: bytes.NewReader(b), hook: func(off int64) {
			if ctx.Err() != nil {
				after.Add(1)
			}
			cancel() // during the first read
		}}
		res, err := c.Classify(ctx, name, cr, int64(len(b)))
		if !errors.Is(err, context.Canceled) || res.CaseFile {
			t.Errorf("%s: %+v, %v; want context.Canceled", name, res, err)
		}
		if after.Load() != 0 {
			t.Errorf("%s: %d reads after the context was cancelled", name, after.Load())
		}
		cancel()
	}
}

// failing fails every read from offset from on.
type failing struct {
	r    io.ReaderAt
	from int64
}

var errDisk = errors.New("disk on fire")

func (f failing) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.from {
		n, _ := f.r.ReadAt(p[:max(0, f.from-off)], off)
		return n, errDisk
	}
	return f.r.ReadAt(p, off)
}

func TestReadErrors(t *testing.T) {
	c := newClassifier(t, rules())
	text := bytes.Repeat([]byte("no marker. "), 10000)
	docx := makeDocx(t, para("x"), "")
	pdf := onePagePDF("BT (x) Tj ET", true)
	for name, b := range map[string][]byte{"a.txt": text, "a.docx": docx, "a.pdf": pdf} {
		for _, from := range []int64{0, 500, int64(len(b)) - 10} {
			res, err := c.Classify(context.Background(), name, failing{bytes.NewReader(b), from}, int64(len(b)))
			if !errors.Is(err, classify.ErrRead) || !errors.Is(err, errDisk) {
				t.Errorf("%s failing from %d: %+v, %v; want ErrRead", name, from, res, err)
			}
		}
	}
	// A marker found before the failure decides.
	b := append([]byte(marker), text...)
	res, err := c.Classify(context.Background(), "a.txt", failing{bytes.NewReader(b), 40000}, int64(len(b)))
	if err != nil || !res.CaseFile {
		t.Errorf("marker before the failure: %+v, %v", res, err)
	}
}

func TestWrongSize(t *testing.T) {
	c := newClassifier(t, rules())
	b := []byte("notes without the marker")
	// The file shrank since the caller looked: Partial.
	res, err := c.Classify(context.Background(), "a.txt", bytes.NewReader(b), 1000)
	if err != nil || !res.Partial || res.Read != int64(len(b)) {
		t.Errorf("size larger than the file: %+v, %v", res, err)
	}
	// Nothing is read at or past the size given.
	b = append(bytes.Repeat([]byte("x"), 100), marker...)
	cr := &counter{r: bytes.NewReader(b)}
	res, err = c.Classify(context.Background(), "a.txt", cr, 100)
	if err != nil || res.CaseFile || cr.end > 100 {
		t.Errorf("size smaller than the file: %+v, %v, read up to %d", res, err, cr.end)
	}
	if _, err := c.Classify(context.Background(), "a.txt", cr, -1); !errors.Is(err, classify.ErrInvalid) {
		t.Errorf("negative size: %v", err)
	}
	if _, err := c.Classify(context.Background(), "a.txt", nil, 1); !errors.Is(err, classify.ErrInvalid) {
		t.Errorf("nil reader: %v", err)
	}
}

// TestSmallBudgets classifies every sample with tiny budgets: never more
// read than allowed.
func TestSmallBudgets(t *testing.T) {
	marked, clean := samples(t)
	for _, max := range []int64{1, 2, 17, 100, 1000, 4096} {
		r := rules()
		r.MaxBytes, r.MaxText = max, max
		c := newClassifier(t, r)
		for _, set := range []map[string][]byte{marked, clean} {
			for name, b := range set {
				res := classifyBytes(t, c, name, b)
				if int64(len(b)) > max && !res.Partial && !res.CaseFile {
					t.Errorf("MaxBytes %d, %s: %+v, want Partial", max, name, res)
				}
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newClassifier(t, rules())
	marked, _ := samples(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				for name, b := range marked {
					res, err := c.Classify(context.Background(), name, bytes.NewReader(b), int64(len(b)))
					if err != nil || !res.CaseFile {
						t.Errorf("%s: %+v, %v", name, res, err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestPDFAmplification feeds PDFs built to cost memory or time out of
// proportion to their size: a huge array object, a content stream with a
// huge TJ array, a ToUnicode map that maps each code to a long text, deep
// nesting, and a thousand ToUnicode maps. Each is classified within
// bounded heap, and the marker shown after the bulk is still found where
// the budgets allow.
func TestPDFAmplification(t *testing.T) {
	c := newClassifier(t, rules())
	long := "<" + strings.Repeat("0041", 512) + ">" // 512 characters for one code
	bigMap := "begincmap 1 begincodespacerange <00> <FF> endcodespacerange 1 beginbfchar <01> " + long + " endbfchar endcmap"
	var manyFonts, manyMaps strings.Builder
	var objs []pdfObj
	objs = append(objs, pdfObj{dict: "<< /Type /Catalog >>"})
	for i := range 1000 {
		fmt.Fprintf(&manyFonts, "/F%d %d 0 R ", i, 2+2*i)
		objs = append(objs,
			pdfObj{dict: fmt.Sprintf("<< /Type /Font /ToUnicode %d 0 R >>", 3+2*i)},
			pdfObj{dict: "", stream: []byte(bigMap)})
		fmt.Fprintf(&manyMaps, "/F%d 1 Tf <0101> Tj ", i)
	}
	objs = append(objs, pdfObj{dict: "<< /Resources << /Font << " + manyFonts.String() + ">> >> >>"},
		pdfObj{dict: "", stream: []byte(manyMaps.String())})

	for name, pdf := range map[string][]byte{
		"array": makePDF(0, pdfObj{dict: "[" + strings.Repeat("1 ", 400000) + "]"},
			pdfObj{dict: "", stream: []byte("BT (OFFICIAL-SENSITIVE) Tj ET")}),
		"TJ": onePagePDF("BT ["+strings.Repeat("(a) 1 ", 150000)+"(OFFICIAL-SENSITIVE)] TJ ET", true),
		"long mapping": makePDF(0,
			pdfObj{dict: "<< /Type /Page /Resources << /Font << /F1 2 0 R >> >> >>"},
			pdfObj{dict: "<< /Type /Font /ToUnicode 3 0 R >>"},
			pdfObj{dict: "/Filter /FlateDecode", stream: deflate([]byte(bigMap))},
			pdfObj{dict: "/Filter /FlateDecode", stream: deflate([]byte("BT /F1 1 Tf <" + strings.Repeat("01", 500000) + "> Tj ET"))}),
		"nesting":                      makePDF(0, pdfObj{dict: strings.Repeat("[<<", 300000)}),
		"many maps":                    makePDF(0, objs...),
		"many dicts":                   makePDF(0, pdfObj{dict: "[" + strings.Repeat("<< /A 1 >> ", 90000) + "]"}),
		"object streams of references": objStreamsOfRefs(),
	} {
		var res classify.Result
		start := time.Now()
		peak := peakHeap(func() { res = classifyBytes(t, c, name+".pdf", pdf) })
		t.Logf("%s: %d bytes, %+v, peak heap +%.1f MiB, %v", name, len(pdf), res, float64(peak)/(1<<20), time.Since(start))
		if peak > 48<<20 {
			t.Errorf("%s: peak heap +%.1f MiB", name, float64(peak)/(1<<20))
		}
		if (name == "array" || name == "TJ") && !res.CaseFile {
			t.Errorf("%s: marker after the bulk not found: %+v", name, res)
		}
		if name == "long mapping" && (res.CaseFile || !res.Partial) {
			t.Errorf("%s: %+v, want MaxText spent: Partial", name, res)
		}
	}
}

// sparseZip reads as a zip of size bytes whose zip64 end record claims
// entries entries: a header at the start, the end records at the end,
// zeros between (a sparse file costs a few KB on disk).
type sparseZip struct {
	size int64
	head []byte
	tail []byte
}

func newSparseZip(size int64, entries uint64) *sparseZip {
	rec := make([]byte, 56)
	copy(rec, "PK\x06\x06")
	binary.LittleEndian.PutUint64(rec[4:], 44)
	binary.LittleEndian.PutUint64(rec[24:], entries)
	binary.LittleEndian.PutUint64(rec[32:], entries)
	binary.LittleEndian.PutUint64(rec[40:], 46)         // directory size
	binary.LittleEndian.PutUint64(rec[48:], uint64(30)) // directory offset
	loc := make([]byte, 20)
	copy(loc, "PK\x06\x07")
	binary.LittleEndian.PutUint64(loc[8:], uint64(size-56-20-22))
	binary.LittleEndian.PutUint32(loc[16:], 1)
	eocd := make([]byte, 22)
	copy(eocd, "PK\x05\x06")
	for i := 4; i < 20; i++ {
		eocd[i] = 0xff
	}
	eocd[20], eocd[21] = 0, 0
	return &sparseZip{size: size, head: []byte("PK\x03\x04"), tail: append(append(rec, loc...), eocd...)}
}

func (z *sparseZip) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off+int64(n) < z.size {
		o := off + int64(n)
		var b byte
		switch {
		case o < int64(len(z.head)):
			b = z.head[o]
		case o >= z.size-int64(len(z.tail)):
			b = z.tail[o-(z.size-int64(len(z.tail)))]
		}
		p[n] = b
		n++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestSparseZipClaimingBillions: a sparse "docx" of 1 TiB whose zip64
// directory claims tens of billions of entries must not make archive/zip
// allocate for them (that is a fatal out-of-memory, not a panic).
func TestSparseZipClaimingBillions(t *testing.T) {
	c, err := classify.New(classify.Rules{Markers: []string{"OFFICIAL-SENSITIVE"}})
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 40
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := c.Classify(context.Background(), "report.docx", newSparseZip(size, size/31), size)
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if res.CaseFile || !res.Partial || res.Read > c.MaxBytes() {
		t.Errorf("result %+v", res)
	}
	if grew := int64(after.HeapSys) - int64(before.HeapSys); grew > 256<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
}

// objStreamsOfRefs is a small PDF whose object streams hold thousands of
// dictionaries of references (each could be a /Font resource dictionary):
// what is kept of them must stay bounded.
func objStreamsOfRefs() []byte {
	var dict strings.Builder
	dict.WriteString("<< ")
	for k := range 1000 {
		fmt.Fprintf(&dict, "/k%d 1 0 R ", k)
	}
	dict.WriteString(">>")
	objs := []pdfObj{{dict: "<< /Type /Catalog >>"}}
	for i := range 16 {
		var header, body strings.Builder
		for j := range 50 {
			fmt.Fprintf(&header, "%d %d ", 1000+i*50+j, body.Len())
			body.WriteString(dict.String() + " ")
		}
		objs = append(objs, pdfObj{dict: fmt.Sprintf("/Type /ObjStm /N 50 /First %d /Filter /FlateDecode", header.Len()),
			stream: deflate([]byte(header.String() + body.String()))})
	}
	return makePDF(0, objs...)
}
