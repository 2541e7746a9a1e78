package actions

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/casekeep/casekeep/server/internal/present"
)

// ErrInvalid is matched by every [*FieldError]: the input was refused and
// nothing was done.
var ErrInvalid = errors.New("invalid input")

// Kind is a kind of problem a [*FieldError] has; each is an error, so
// that errors.Is tells them apart.
type Kind string

func (k Kind) Error() string { return string(k) }

// The kinds of problem.
const (
	ErrRequired   Kind = "required"
	ErrTooLong    Kind = "too long"
	ErrNotText    Kind = "not text"
	ErrFuture     Kind = "in the future"
	ErrOutOfOrder Kind = "out of order"
	ErrChoice     Kind = "not one of the choices"
)

// FieldError is input an action refused: which field, and what is wrong
// with it.
type FieldError struct {
	// Field is the input's name, as the API's JSON and the console's
	// forms call it: "lost_at", "note", "role".
	Field string
	// Problem says what is wrong, in words that follow the field's name:
	// "must not be in the future".
	Problem string
	// Kind is the kind of problem: ErrRequired, ErrTooLong, ErrNotText,
	// ErrFuture, ErrOutOfOrder or ErrChoice.
	Kind Kind
}

func (e *FieldError) Error() string { return e.Field + " " + e.Problem }

// Unwrap makes a FieldError match [ErrInvalid] and its Kind.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalid, e.Kind} }

func refuse(field string, kind Kind, problem string) *FieldError {
	return &FieldError{Field: field, Problem: problem, Kind: kind}
}

// textRule is what a text field must be. Text is trimmed first; it must
// be valid UTF-8 without control characters (but, where multiline, line
// breaks and tabs), of at most max characters.
type textRule struct {
	field string
	max   int
	// required, if not "", is said when the text is missing: "is
	// required".
	required  string
	multiline bool
	// problem is said for any fault, if set: "must be 1 to 100 printable
	// characters".
	problem string
}

// check returns s trimmed, or the [*FieldError] saying why it is refused.
func (r textRule) check(s string) (string, error) {
	s = strings.TrimSpace(s)
	fail := func(kind Kind, problem string) (string, error) {
		if r.problem != "" {
			problem = r.problem
		}
		return "", refuse(r.field, kind, problem)
	}
	switch {
	case s == "" && r.required != "":
		return fail(ErrRequired, r.required)
	case !isText(s, r.multiline):
		return fail(ErrNotText, "must be text, without control characters")
	case utf8.RuneCountInString(s) > r.max:
		return fail(ErrTooLong, "must be at most "+present.Thousands(r.max)+" characters")
	}
	return s, nil
}

func isText(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		switch {
		case multiline && (c == '\n' || c == '\r' || c == '\t'):
		case multiline && !unicode.IsGraphic(c), !multiline && !unicode.IsPrint(c):
			return false
		}
	}
	return true
}
