package storage

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file reads the XML property lists that macOS's diskutil and ioreg
// print; it has no build tags, so it is tested and fuzzed everywhere.

// Bounds on a property list.
const (
	maxPlistBytes  = 16 << 20 // ioreg's USB tree on a busy Mac is a few MiB
	maxPlistDepth  = 64
	maxPlistValues = 1 << 20
)

var errPlist = errors.New("storage: bad property list")

// parsePlist parses an XML property list into Go values: map[string]any
// for dict, []any for array, string, int64 (or uint64 past int64), float64,
// bool, []byte for data and time.Time for date. It refuses input past the
// bounds above rather than trusting the producer.
func parsePlist(data []byte) (any, error) {
	if len(data) > maxPlistBytes {
		return nil, fmt.Errorf("%w: %d bytes", errPlist, len(data))
	}
	p := &plistParser{d: xml.NewDecoder(bytes.NewReader(data))}
	p.d.Strict = true
	// Find <plist>.
	for {
		tok, err := p.d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: no plist element: %v", errPlist, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("%w: root element %q", errPlist, se.Name.Local)
			}
			break
		}
	}
	se, err := p.nextStart()
	if err != nil {
		return nil, err
	}
	v, err := p.value(se, 0)
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil { // </plist>
		return nil, err
	}
	return v, nil
}

type plistParser struct {
	d      *xml.Decoder
	values int
}

// nextStart returns the next start element, skipping white space,
// comments and processing instructions; an end element or other text is
// an error.
func (p *plistParser) nextStart() (xml.StartElement, error) {
	for {
		tok, err := p.d.Token()
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("%w: %v", errPlist, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, fmt.Errorf("%w: stray text", errPlist)
			}
		case xml.EndElement:
			return xml.StartElement{}, fmt.Errorf("%w: unexpected </%s>", errPlist, t.Name.Local)
		}
	}
}

// startOrEnd returns the next start element, or ok=false at an end
// element.
func (p *plistParser) startOrEnd() (se xml.StartElement, ok bool, err error) {
	for {
		tok, err := p.d.Token()
		if err != nil {
			return xml.StartElement{}, false, fmt.Errorf("%w: %v", errPlist, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, true, nil
		case xml.EndElement:
			return xml.StartElement{}, false, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, false, fmt.Errorf("%w: stray text", errPlist)
			}
		}
	}
}

// end consumes up to and including the next end element, allowing only
// white space before it.
func (p *plistParser) end() error {
	_, ok, err := p.startOrEnd()
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("%w: unexpected element", errPlist)
	}
	return nil
}

// text reads character data up to the end of the current element.
func (p *plistParser) text() (string, error) {
	var b strings.Builder
	for {
		tok, err := p.d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %v", errPlist, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("%w: element inside text", errPlist)
		}
	}
}

func (p *plistParser) value(se xml.StartElement, depth int) (any, error) {
	p.values++
	if p.values > maxPlistValues {
		return nil, fmt.Errorf("%w: more than %d values", errPlist, maxPlistValues)
	}
	if depth > maxPlistDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", errPlist, maxPlistDepth)
	}
	switch se.Name.Local {
	case "dict":
		m := map[string]any{}
		for {
			ke, ok, err := p.startOrEnd()
			if err != nil {
				return nil, err
			}
			if !ok {
				return m, nil
			}
			if ke.Name.Local != "key" {
				return nil, fmt.Errorf("%w: <%s> where a key should be", errPlist, ke.Name.Local)
			}
			k, err := p.text()
			if err != nil {
				return nil, err
			}
			ve, err := p.nextStart()
			if err != nil {
				return nil, err
			}
			v, err := p.value(ve, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
	case "array":
		a := []any{}
		for {
			ve, ok, err := p.startOrEnd()
			if err != nil {
				return nil, err
			}
			if !ok {
				return a, nil
			}
			v, err := p.value(ve, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case "true", "false":
		if err := p.end(); err != nil {
			return nil, err
		}
		return se.Name.Local == "true", nil
	}
	s, err := p.text()
	if err != nil {
		return nil, err
	}
	switch se.Name.Local {
	case "string":
		return s, nil
	case "integer":
		s = strings.TrimSpace(s)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n, nil
		}
		return nil, fmt.Errorf("%w: bad integer %q", errPlist, truncate(s))
	case "real":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bad real %q", errPlist, truncate(s))
		}
		return f, nil
	case "data":
		b, err := base64.StdEncoding.DecodeString(strings.Map(dropSpace, s))
		if err != nil {
			return nil, fmt.Errorf("%w: bad data", errPlist)
		}
		return b, nil
	case "date":
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w: bad date %q", errPlist, truncate(s))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: unknown element <%s>", errPlist, truncate(se.Name.Local))
}

func dropSpace(r rune) rune {
	switch r {
	case ' ', '\t', '\n', '\r':
		return -1
	}
	return r
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
