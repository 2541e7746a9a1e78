package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxSourceSize is the largest policy source or bundle accepted. Real
// policies are a few kilobytes.
const MaxSourceSize = 1 << 20

// Parse reads a policy authored as YAML, applies defaults and validates it.
// Unknown fields are errors. On failure the error is an [*InvalidError] that
// lists every problem with its line.
func Parse(src []byte) (*Policy, error) {
	d, w := parseYAML(src)
	problems := w.problems
	if d != nil {
		p, more := fromDocument(d)
		for _, pr := range more {
			if w.covered(pr.Path) {
				continue
			}
			pr.Line = w.lineOf(pr.Path)
			problems = append(problems, pr)
		}
		if len(problems) == 0 {
			return p, nil
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
	return nil, &InvalidError{Problems: problems}
}

// yamlLineRE finds the line in the yaml library's syntax errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML decodes src into a document. It checks the node tree against the
// document's fields first, so that unknown fields, repeated fields and values
// of the wrong kind are all reported with their lines. A nil document means
// src is not a YAML mapping at all.
func parseYAML(src []byte) (*document, *walker) {
	w := &walker{lines: map[string]int{"": 1}}
	fail := func(p Problem) (*document, *walker) {
		w.problems = append(w.problems, p)
		return nil, w
	}
	if len(src) > MaxSourceSize {
		return fail(Problem{Line: 1, Msg: fmt.Sprintf("policy is larger than %d bytes", MaxSourceSize)})
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(Problem{Line: 1, Msg: "policy is empty"})
		}
		return fail(syntaxProblem(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return fail(syntaxProblem(err))
		}
		return fail(Problem{Line: extra.Line, Msg: "a policy file holds one YAML document, but a second one starts here"})
	}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return fail(Problem{Line: top.Line, Msg: "a policy is a YAML mapping of fields (version:, name:, vault:, ...)"})
	}

	w.walk(top, reflect.TypeFor[document](), "")
	d := &document{}
	// The walker has reported every value of the wrong kind, so the type
	// errors the decoder collects add nothing.
	if err := top.Decode(d); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			w.problems = append(w.problems, syntaxProblem(err))
		}
	}
	return d, w
}

func syntaxProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		// The yaml library counts lines from 0 for errors of its parser (as
		// opposed to its scanner); its parser's messages are these.
		if strings.HasPrefix(m[2], "did not find expected") || strings.HasPrefix(m[2], "found duplicate %") ||
			m[2] == "found incompatible YAML document" || m[2] == "found undefined tag handle" {
			line++
		}
		return Problem{Line: line, Msg: "YAML syntax: " + m[2]}
	}
	return Problem{Line: 1, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// walker checks a YAML node tree against a Go type and records the line of
// every field path.
type walker struct {
	lines    map[string]int
	problems []Problem
	bad      []string // paths with a structural problem
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
	w.bad = append(w.bad, path)
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	w.lines[path] = n.Line
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		w.fail(n, path, "uses a YAML anchor or alias (& or *), which a policy does not allow: write the value out")
		return
	}
	if n.Style&yaml.TaggedStyle != 0 {
		w.fail(n, path, "has a YAML tag (%s), which a policy does not allow", n.Tag)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value: the field takes its default
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "must be a mapping of fields (indented \"key: value\" lines)")
			return
		}
		fields := map[string]reflect.Type{}
		var names []string
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			fields[name] = f.Type
			names = append(names, name)
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			sub := join(path, key)
			if k.Kind != yaml.ScalarNode {
				w.fail(k, path, "has a key that is not a plain name")
				continue
			}
			if line, dup := seen[key]; dup {
				w.fail(k, sub, "is set twice (first at line %d)", line)
				continue
			}
			seen[key] = k.Line
			ft, ok := fields[key]
			if !ok {
				where := path
				if where == "" {
					where = "the top level"
				}
				w.fail(k, sub, "is not a known field of %s (known: %s)", where, strings.Join(names, ", "))
				continue
			}
			w.walk(v, ft, sub)
			w.lines[sub] = k.Line
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "must be a list (lines starting with \"- \", or [a, b])")
			return
		}
		if len(n.Content) > maxListLen {
			w.fail(n, path, "has more than %d entries", maxListLen)
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		var s string
		if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
			w.fail(n, path, "must be a single value, not a list or mapping")
		}
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			w.fail(n, path, "must be a whole number, not %s", describe(n))
		}
	default:
		panic("policy: document field of unhandled kind " + t.Kind().String())
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf returns the line for a path: its own, or that of the nearest
// enclosing field that the source has (a missing field is reported where
// its parent is).
func (w *walker) lineOf(path string) int {
	for {
		if l, ok := w.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 1
		}
		path = path[:i]
	}
}

// covered reports whether path is at or under a path the walker already
// reported, so that a value of the wrong kind is not reported twice.
func (w *walker) covered(path string) bool {
	return slices.ContainsFunc(w.bad, func(b string) bool {
		return path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[")
	})
}

// MarshalYAML writes p as YAML in the form [Parse] reads, with every default
// written out: the effective policy.
func MarshalYAML(p *Policy) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(toDocument(p)); err != nil {
		panic("policy: encoding YAML: " + err.Error()) // plain strings and ints cannot fail
	}
	enc.Close()
	return b.Bytes()
}
