package classify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Defaults for the zero values of [Rules].
const (
	// DefaultMaxBytes bounds the raw bytes read from one file.
	DefaultMaxBytes = 1 << 20
	// DefaultTextFactor sets the default bound on decompressed bytes,
	// MaxText, as a multiple of MaxBytes.
	DefaultTextFactor = 8
)

// Limits on [Rules], checked by [New].
const (
	MaxMarkers   = 1000 // markers in one Rules
	MaxMarkerLen = 1024 // bytes in one marker, after normalisation
)

// Rules that can make a file a case file, for [Result.Rule].
const (
	RulePath   = "path"
	RuleName   = "name"
	RuleMarker = "marker"
)

// Ways the content was read, for [Result.Format].
const (
	FormatText  = "text"  // plain bytes that look like text (UTF-16 with a byte-order mark is decoded)
	FormatDocx  = "docx"  // Word: body, headers, footers, notes, comments, document properties
	FormatXlsx  = "xlsx"  // Excel: shared strings, sheets' inline strings, comments, properties
	FormatPptx  = "pptx"  // PowerPoint: slides, notes, properties
	FormatODF   = "odf"   // OpenDocument (odt, ods, odp): content, styles, metadata
	FormatZip   = "zip"   // another zip: every entry's decompressed bytes, as plain bytes
	FormatPDF   = "pdf"   // PDF: raw bytes, strings in objects, text in content streams
	FormatOther = "other" // plain bytes that do not look like text
)

var (
	// ErrInvalid means the rules, or the arguments to Classify, are out of
	// range.
	ErrInvalid = errors.New("classify: invalid")
	// ErrRead means the file could not be read (not merely cut short).
	ErrRead = errors.New("classify: read error")
)

// Rules say what makes a file a case file. Any one rule matching is enough.
type Rules struct {
	// PathPatterns match the file's path, with "/" separators, as given to
	// [Classifier.Classify]. A match anywhere in the path counts: anchor
	// the pattern with ^ and $ to match the whole path.
	PathPatterns []*regexp.Regexp
	// NamePattern finds a case reference in the file's base name (the part
	// after the last "/"), such as `(?P<ref>[A-Z]{2}-[0-9]{6})`. The
	// reference is the group named "ref" if there is one, else group 1,
	// else the whole match. A match makes the file a case file.
	NamePattern *regexp.Regexp
	// Markers are strings that mark a case file when found in its content:
	// its first bytes, or the text of a document (see the package
	// documentation). They match ignoring case, whitespace, NUL bytes and
	// invisible format characters, so "OFFICIAL SENSITIVE" also matches
	// "official\n  sensitive" and "OFFICIALSENSITIVE"; every Unicode dash
	// counts as "-". Each must be valid UTF-8 with something left once
	// those are dropped. Matching is a plain search for each marker, so
	// the cost grows with their number.
	Markers []string
	// MaxBytes bounds the raw bytes read from one file in all, zip
	// directory and compressed streams included. Zero means
	// [DefaultMaxBytes].
	MaxBytes int64
	// MaxText bounds the decompressed bytes examined from one file: zip
	// entries and PDF streams, all together. Zero means
	// [DefaultTextFactor] × MaxBytes.
	MaxText int64
}

// Result is what [Classifier.Classify] decided about one file.
type Result struct {
	// CaseFile is true if a rule matched.
	CaseFile bool
	// Rule is the first rule that matched, in the order they are tried:
	// [RulePath], [RuleName], [RuleMarker]; "" if none did.
	Rule string
	// CaseRef is the case reference found by NamePattern in the base
	// name, whichever rule matched. When a marker matched and the name has
	// none, it is the first match of NamePattern in the document text from
	// shortly before where the marker was found (at least 1 KiB) on, if the
	// pattern has no ^ or $ anchors (which would mean nothing in a window
	// of text); else "". Looking for it may read on after the marker,
	// within the same bounds.
	CaseRef string
	// Marker is the marker that matched, as written in [Rules.Markers].
	Marker string
	// Format says how the content was read: one of the Format constants,
	// or "" if the content was not read (a path or name rule matched, or
	// there are no markers).
	Format string
	// Read is the number of raw bytes read from the file. It never
	// exceeds MaxBytes.
	Read int64
	// Partial is true if some of the content could not be examined before
	// the decision: it was cut at MaxBytes or MaxText, was corrupt or
	// truncated, or was encrypted or in an encoding this package does not
	// read. The file was classified by what could be read, so a file not
	// found to be a case file may still be one.
	Partial bool
}

// Classifier decides whether files are case files. It is safe for
// concurrent use.
type Classifier struct {
	paths    []*regexp.Regexp
	name     *regexp.Regexp
	refGroup int
	refText  bool // name may be searched for in document text
	markers  []string
	folded   [][]byte
	maxLen   int
	maxBytes int64
	maxText  int64
}

// New checks the rules and returns a Classifier for them. It wraps
// [ErrInvalid] if a path pattern is nil, a marker is not valid UTF-8, is
// empty once what matching ignores is dropped (see [Rules.Markers]) or is
// longer than [MaxMarkerLen] after it, there
// are more than [MaxMarkers] markers, or MaxBytes or MaxText is negative.
// Rules with no patterns and no markers are valid and match nothing.
func New(r Rules) (*Classifier, error) {
	c := &Classifier{maxBytes: r.MaxBytes, maxText: r.MaxText, name: r.NamePattern}
	if c.maxBytes < 0 || c.maxText < 0 {
		return nil, fmt.Errorf("%w: negative MaxBytes (%d) or MaxText (%d)", ErrInvalid, r.MaxBytes, r.MaxText)
	}
	if c.maxBytes == 0 {
		c.maxBytes = DefaultMaxBytes
	}
	if c.maxText == 0 {
		c.maxText = c.maxBytes * DefaultTextFactor
		if c.maxText/DefaultTextFactor != c.maxBytes { // overflow
			c.maxText = 1<<63 - 1
		}
	}
	for i, p := range r.PathPatterns {
		if p == nil {
			return nil, fmt.Errorf("%w: path pattern %d is nil", ErrInvalid, i)
		}
	}
	c.paths = append([]*regexp.Regexp(nil), r.PathPatterns...)
	if c.name != nil {
		c.refGroup = refGroup(c.name)
		c.refText = !anchored(c.name)
	}
	if len(r.Markers) > MaxMarkers {
		return nil, fmt.Errorf("%w: %d markers, more than %d", ErrInvalid, len(r.Markers), MaxMarkers)
	}
	for i, m := range r.Markers {
		if !utf8.ValidString(m) {
			return nil, fmt.Errorf("%w: marker %d is not valid UTF-8", ErrInvalid, i)
		}
		f := foldString(m)
		if len(f) == 0 {
			return nil, fmt.Errorf("%w: marker %d (%q) is only whitespace", ErrInvalid, i, m)
		}
		if len(f) > MaxMarkerLen {
			return nil, fmt.Errorf("%w: marker %d is longer than %d bytes", ErrInvalid, i, MaxMarkerLen)
		}
		c.markers = append(c.markers, m)
		c.folded = append(c.folded, f)
		c.maxLen = max(c.maxLen, len(f))
	}
	return c, nil
}

// refGroup returns the index of the submatch that holds a case reference.
func refGroup(re *regexp.Regexp) int {
	if i := re.SubexpIndex("ref"); i >= 0 {
		return i
	}
	if re.NumSubexp() >= 1 {
		return 1
	}
	return 0
}

// anchored reports whether re has ^, $, \A or \z, which mean nothing in a
// window of document text.
func anchored(re *regexp.Regexp) bool {
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return true
	}
	var walk func(*syntax.Regexp) bool
	walk = func(r *syntax.Regexp) bool {
		switch r.Op {
		case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
			return true
		}
		for _, s := range r.Sub {
			if walk(s) {
				return true
			}
		}
		return false
	}
	return walk(t)
}

// MaxBytes returns the bound on raw bytes read from one file.
func (c *Classifier) MaxBytes() int64 { return c.maxBytes }

// MaxText returns the bound on decompressed bytes examined in one file.
func (c *Classifier) MaxText() int64 { return c.maxText }

// Classify decides whether one file is a case file. name is the file's
// path with "/" separators: it is matched by the path and name rules and
// its extension is a hint to the format, but it is never opened. r reads
// the file, which the caller has opened (refusing symbolic links); size is
// its size. Classify reads at most MaxBytes from r, never at or past size,
// and holds memory of the order of MaxBytes whatever the size.
//
// The rules are tried in order, path, name, then markers, and Classify
// stops at the first that matches, so a path or name match reads nothing.
// Content that is corrupt or cut short is not an error: the Result says
// Partial. The error wraps ctx's error if ctx is done before a decision,
// [ErrRead] if r failed before a decision (the Result holds what was
// decided from the bytes read before), or [ErrInvalid] if r is nil or size
// is negative.
func (c *Classifier) Classify(ctx context.Context, name string, r io.ReaderAt, size int64) (Result, error) {
	var res Result
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("classify: %w", err)
	}
	base := name[strings.LastIndexByte(name, '/')+1:]
	if c.name != nil {
		if m := c.name.FindStringSubmatchIndex(base); m != nil {
			if s, e := m[2*c.refGroup], m[2*c.refGroup+1]; s >= 0 {
				res.CaseRef = base[s:e]
			}
			res.Rule = RuleName
		}
	}
	for _, p := range c.paths {
		if p.MatchString(name) {
			res.Rule = RulePath
			break
		}
	}
	if res.Rule != "" {
		res.CaseFile = true
		return res, nil
	}
	if r == nil || size < 0 {
		return res, fmt.Errorf("%w: nil reader or negative size (%d)", ErrInvalid, size)
	}
	if len(c.markers) == 0 {
		return res, nil
	}

	j := newJob(ctx, c, r, size)
	defer j.release()
	res.Format = j.run(base)
	res.Read = j.br.read
	res.Partial = j.partial
	if i := j.sc.found; i >= 0 {
		res.CaseFile = true
		res.Rule = RuleMarker
		res.Marker = c.markers[i]
		res.CaseRef = j.sc.ref
		return res, nil
	}
	if err := j.br.err; err != nil {
		return res, err
	}
	return res, nil
}

// ext returns the lower-case extension of a base name, without the dot.
func ext(base string) string {
	i := strings.LastIndexByte(base, '.')
	if i < 0 {
		return ""
	}
	return strings.ToLower(base[i+1:])
}
