package classify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// errBudget is returned by a budgetReader once MaxBytes have been read.
var errBudget = errors.New("classify: read budget spent")

// budgetReader is the only way content is read from the caller's reader. It
// counts the bytes read, refuses to read more than its budget in all or at
// or past size, and checks the context on every read. Errors other than
// running out (of budget, or of file) are kept in err: the first one is
// what Classify reports.
type budgetReader struct {
	ctx  context.Context
	r    io.ReaderAt
	size int64
	left int64
	read int64
	err  error // the context's or the reader's first error; sticky
	cut  bool  // a read was cut short by the budget
	// short is set when the file ended before size: it shrank, or the
	// caller's size was wrong.
	short bool
}

// ReadAt implements io.ReaderAt over the first size bytes of the file.
func (b *budgetReader) ReadAt(p []byte, off int64) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if err := b.ctx.Err(); err != nil {
		b.err = fmt.Errorf("classify: %w", err)
		return 0, b.err
	}
	if off < 0 {
		return 0, errors.New("classify: negative offset")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	want := len(p)
	var end error
	if int64(len(p)) > b.size-off {
		p = p[:b.size-off]
		end = io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
		end = errBudget
		b.cut = true
	}
	if len(p) == 0 {
		return 0, end
	}
	n, err := b.r.ReadAt(p, off)
	if n < 0 || n > len(p) {
		n = 0
		err = errors.New("reader returned a count out of range")
	}
	b.read += int64(n)
	b.left -= int64(n)
	switch {
	case err == io.EOF || (err == nil && n < len(p)):
		b.short = true
		return n, io.EOF
	case err != nil:
		b.err = fmt.Errorf("%w: %w", ErrRead, err)
		return n, b.err
	}
	if n < want {
		return n, end
	}
	return n, nil
}

// capReader lets a part of the work spend at most left bytes of a
// budgetReader's budget.
type capReader struct {
	r    *budgetReader
	left int64
}

func (c *capReader) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
		if len(p) == 0 {
			c.r.cut = true
			return 0, errBudget
		}
		n, err := c.r.ReadAt(p, off)
		c.left -= int64(n)
		if err == nil {
			c.r.cut = true
			err = errBudget
		}
		return n, err
	}
	n, err := c.r.ReadAt(p, off)
	c.left -= int64(n)
	return n, err
}

// sectionReader reads a budgetReader sequentially from off.
type sectionReader struct {
	b   *budgetReader
	off int64
}

func (s *sectionReader) Read(p []byte) (int, error) {
	n, err := s.b.ReadAt(p, s.off)
	s.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

const chunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// job is the state of one Classify call that reads content.
type job struct {
	ctx      context.Context
	c        *Classifier
	br       *budgetReader
	sc       *scanner
	textLeft int64 // decompressed bytes that may still be examined
	partial  bool
	chunk    *[]byte
}

func newJob(ctx context.Context, c *Classifier, r io.ReaderAt, size int64) *job {
	return &job{
		ctx:      ctx,
		c:        c,
		br:       &budgetReader{ctx: ctx, r: r, size: size, left: c.maxBytes},
		sc:       newScanner(c),
		textLeft: c.maxText,
		chunk:    chunkPool.Get().(*[]byte),
	}
}

func (j *job) release() {
	chunkPool.Put(j.chunk)
	j.chunk = nil
}

// done reports whether the job should stop reading: the decision is made
// (and no case reference is still looked for), or nothing more can be
// read.
func (j *job) done() bool {
	return j.sc.done() || j.br.err != nil
}

// cancelled reports whether the job must stop: the context is done or a
// read failed.
func (j *job) cancelled() bool {
	if j.br.err == nil {
		if err := j.ctx.Err(); err != nil {
			j.br.err = fmt.Errorf("classify: %w", err)
		}
	}
	return j.br.err != nil
}

// noteRead records what a read error means for the result: an error other
// than the end of the file means the content was cut or corrupt.
func (j *job) noteRead(err error) {
	if err != nil && err != io.EOF {
		j.mark()
	}
}

// mark records that some content could not be examined, unless the
// decision was already made.
func (j *job) mark() {
	if j.sc.found < 0 {
		j.partial = true
	}
}

// run reads the content and returns the format it was read as.
func (j *job) run(base string) string {
	head := (*j.chunk)[:min(4096, j.br.size)]
	n, err := j.br.ReadAt(head, 0)
	head = head[:n]
	if err != nil && err != io.EOF && err != errBudget {
		j.mark()
		return FormatOther
	}
	switch {
	case isZip(head):
		return j.readZip(ext(base))
	case pdfHeader(head) >= 0:
		return j.readPDF(head)
	}
	return j.readRaw(head)
}

// readRaw scans plain bytes from the start of the file, head being the
// first bytes, already read.
func (j *job) readRaw(head []byte) string {
	format := FormatOther
	if looksText(head) {
		format = FormatText
	}
	var dec *utf16Decoder
	if bo := bom16(head); bo != 0 {
		format = FormatText
		dec = &utf16Decoder{big: bo == 2}
		head = head[2:]
	}
	write := func(p []byte) {
		if dec != nil {
			dec.write(p, j.sc)
		} else {
			j.sc.Write(p)
		}
	}
	off := j.br.size
	if len(head) > 0 {
		off = int64(len(head))
		if dec != nil {
			off += 2
		}
		write(head)
		j.sc.check()
	}
	buf := *j.chunk
	for !j.done() && off < j.br.size {
		n, err := j.br.ReadAt(buf, off)
		off += int64(n)
		write(buf[:n])
		j.sc.check()
		if err != nil {
			j.noteRead(err)
			break
		}
	}
	j.sc.finish()
	if j.br.short {
		j.mark()
	}
	return format
}

// looksText reports whether b looks like text: no NUL bytes and no control
// characters other than the common ones.
func looksText(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b {
			return false
		}
	}
	return true
}

// bom16 returns 1 if b starts with a UTF-16 little-endian byte-order mark,
// 2 for big-endian, else 0.
func bom16(b []byte) int {
	if len(b) >= 2 {
		switch {
		case b[0] == 0xff && b[1] == 0xfe:
			return 1
		case b[0] == 0xfe && b[1] == 0xff:
			return 2
		}
	}
	return 0
}
