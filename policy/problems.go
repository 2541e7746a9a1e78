package policy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error that reports problems in a policy
// document; the error is an [*InvalidError] listing them.
var ErrInvalid = errors.New("invalid policy")

// Problem is one thing wrong with a policy document.
type Problem struct {
	// Line is the line of the YAML source the problem is about, or 0 when
	// the document did not come from YAML.
	Line int
	// Path names the field, such as "vault.escrow_recipients[1]"; it is
	// empty for problems with the document as a whole.
	Path string
	// Msg says what is wrong, as a phrase that follows the path.
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(" ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// InvalidError reports every problem found in a policy document, in the
// order of the source.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid policy: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid policy: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }
