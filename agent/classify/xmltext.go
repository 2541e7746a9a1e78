package classify

import (
	"strconv"
	"unicode/utf8"
)

// xmlText extracts the character data of an XML document written to it in
// pieces of any length: tags, comments, processing instructions and
// declarations are dropped, entities and character references decoded,
// CDATA sections kept. It is a scan, not a parser: it never fails, keeps
// constant state, and makes the best of malformed XML. Text split across
// elements (Word's runs, <w:t>…</w:t><w:t>…</w:t>) comes out joined;
// elements that end a paragraph, cell or line put a space in between, which
// matters only to case references, since markers ignore whitespace. A
// non-breaking hyphen element (<w:noBreakHyphen/>) becomes "-".
type xmlText struct {
	out    textSink
	sepAll bool // every tag separates words (document properties)

	state int
	quote byte
	name  [32]byte // local name of the current tag, cut at 32 bytes
	nname int
	ent   [12]byte // an entity being read, without the '&'
	nent  int
	run   int // ']' seen in CDATA, or '-' seen in a comment, or '?' seen in a PI
	buf   []byte
}

// textSink receives extracted text.
type textSink interface {
	Write(p []byte) (int, error)
	space() // a word break
	Break() // the end of a separate piece of text
}

const (
	xText    = iota
	xLt      // after '<'
	xName    // in a tag's name
	xAttrs   // in a tag after its name
	xQuote   // in an attribute value
	xBang    // after "<!"
	xComment // in <!-- -->
	xCDATA   // in <![CDATA[ ]]>
	xDecl    // in <!DOCTYPE …> or another declaration
	xPI      // in <? ?>
	xEnt     // after '&'
)

func (x *xmlText) Write(p []byte) (int, error) {
	x.buf = x.buf[:0]
	for _, c := range p {
		x.byte(c)
		if len(x.buf) >= chunkSize {
			x.out.Write(x.buf)
			x.buf = x.buf[:0]
		}
	}
	x.out.Write(x.buf)
	return len(p), nil
}

func (x *xmlText) byte(c byte) {
	switch x.state {
	case xText:
		switch c {
		case '<':
			x.state, x.nname = xLt, 0
		case '&':
			x.state, x.nent = xEnt, 0
		default:
			x.buf = append(x.buf, c)
		}
	case xLt:
		switch c {
		case '/': // an end tag
			x.state = xName
		case '!':
			x.state, x.run = xBang, 0
		case '?':
			x.state, x.run = xPI, 0
		default:
			x.state = xName
			x.byte(c)
		}
	case xName:
		switch {
		case c == '>':
			x.endTag()
		case c == '/':
			x.state = xAttrs
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			x.state = xAttrs
		case c == ':':
			x.nname = 0 // keep the local name only
		default:
			if x.nname < len(x.name) {
				x.name[x.nname] = c
			}
			x.nname++
		}
	case xAttrs:
		switch c {
		case '>':
			x.endTag()
		case '"', '\'':
			x.quote, x.state = c, xQuote
		}
	case xQuote:
		if c == x.quote {
			x.state = xAttrs
		}
	case xBang:
		// "<!--" starts a comment and "<![CDATA[" a CDATA section; anything
		// else is a declaration, skipped to its '>'.
		const cdata = "[CDATA["
		switch {
		case x.run == 0 && c == '-':
			x.run = -1
		case x.run == -1 && c == '-':
			x.state, x.run = xComment, 0
		case x.run >= 0 && x.run < len(cdata) && c == cdata[x.run]:
			x.run++
			if x.run == len(cdata) {
				x.state, x.run = xCDATA, 0
			}
		case c == '>':
			x.state = xText
		default:
			x.state, x.run = xDecl, 0
		}
	case xDecl:
		// An internal DTD subset nests '<' … '>' inside '[' … ']'.
		switch c {
		case '[':
			x.run++
		case ']':
			x.run--
		case '>':
			if x.run <= 0 {
				x.state = xText
			}
		}
	case xComment:
		switch {
		case c == '-':
			x.run++
		case c == '>' && x.run >= 2:
			x.state = xText
		default:
			x.run = 0
		}
	case xPI:
		switch {
		case c == '>' && x.run > 0:
			x.state = xText
		case c == '?':
			x.run = 1
		default:
			x.run = 0
		}
	case xCDATA:
		switch {
		case c == ']':
			x.run++
		case c == '>' && x.run >= 2:
			for ; x.run > 2; x.run-- {
				x.buf = append(x.buf, ']')
			}
			x.run = 0
			x.state = xText
		default:
			for ; x.run > 0; x.run-- {
				x.buf = append(x.buf, ']')
			}
			x.buf = append(x.buf, c)
		}
	case xEnt:
		switch {
		case c == ';':
			x.entity()
			x.state = xText
		case x.nent < len(x.ent) && c != '<' && c != '&' && c > ' ':
			x.ent[x.nent] = c
			x.nent++
		default:
			// Not an entity: keep the text as it was.
			x.buf = append(x.buf, '&')
			x.buf = append(x.buf, x.ent[:x.nent]...)
			x.state = xText
			x.byte(c)
		}
	}
}

var entities = map[string]string{"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'", "nbsp": "\u00a0"}

func (x *xmlText) entity() {
	e := x.ent[:x.nent]
	if len(e) > 1 && e[0] == '#' {
		var n uint64
		var err error
		if e[1] == 'x' || e[1] == 'X' {
			n, err = strconv.ParseUint(string(e[2:]), 16, 32)
		} else {
			n, err = strconv.ParseUint(string(e[1:]), 10, 32)
		}
		if err == nil && n > 0 && n <= utf8.MaxRune {
			x.buf = utf8.AppendRune(x.buf, rune(n))
			return
		}
	} else if s, ok := entities[string(e)]; ok {
		x.buf = append(x.buf, s...)
		return
	}
	x.buf = append(x.buf, '&')
	x.buf = append(x.buf, e...)
	x.buf = append(x.buf, ';')
}

// breakTags are the local names of elements that separate words: Word's
// paragraphs, tabs and breaks, PowerPoint's paragraphs, OpenDocument's
// paragraphs, headings, spaces and line breaks (soft: a marker may run on
// across them, as it may across a line break); and those that separate
// values: table cells and rows, Excel's strings and cells (hard: nothing
// runs on across them).
var breakTags = map[string]byte{
	"p": 's', "tab": 's', "br": 's', "cr": 's', "h": 's', "s": 's', "line-break": 's',
	"tc": 'h', "tr": 'h', "si": 'h', "c": 'h', "row": 'h', "table-cell": 'h', "table-row": 'h',
}

func (x *xmlText) endTag() {
	x.state = xText
	name := x.name[:min(x.nname, len(x.name))]
	if string(name) == "noBreakHyphen" {
		x.buf = append(x.buf, '-')
		return
	}
	kind := breakTags[string(name)]
	if x.sepAll {
		kind = 'h'
	}
	if kind == 0 {
		return
	}
	x.out.Write(x.buf)
	x.buf = x.buf[:0]
	if kind == 'h' {
		x.out.Break()
	} else {
		x.out.space()
	}
}
