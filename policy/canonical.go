package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrMalformed is returned for bytes that are not a bundle or canonical
// policy at all: empty, truncated, unparsable or not in canonical form.
var ErrMalformed = errors.New("malformed policy bundle")

// Canonical returns the canonical encoding of p: compact JSON with the
// fields in a fixed order, every default written out and every value in its
// normal spelling, ending in a newline. Two policies that mean the same have
// the same encoding; it is what [Sign] signs and what [Policy.Hash] hashes.
func Canonical(p *Policy) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toDocument(p)); err != nil {
		panic("policy: encoding JSON: " + err.Error()) // plain strings and ints cannot fail
	}
	return b.Bytes()
}

// Decode parses a canonical encoding, as found in a bundle, and validates it.
// Bytes that decode but are not exactly the canonical encoding of the result
// are refused with [ErrMalformed], so one policy has one encoding and one hash.
func Decode(canonical []byte) (*Policy, error) {
	if len(canonical) > MaxSourceSize {
		return nil, fmt.Errorf("%w: policy is larger than %d bytes", ErrMalformed, MaxSourceSize)
	}
	dec := json.NewDecoder(bytes.NewReader(canonical))
	dec.DisallowUnknownFields()
	var d document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: policy is not valid JSON of the policy format: %v", ErrMalformed, err)
	}
	p, problems := fromDocument(&d)
	if len(problems) > 0 {
		return nil, &InvalidError{Problems: problems}
	}
	if !bytes.Equal(Canonical(p), canonical) {
		return nil, fmt.Errorf("%w: policy is not in canonical form", ErrMalformed)
	}
	return p, nil
}

// Validate reports every problem with p, as [Parse] would for the same
// policy written as YAML (without lines). A nil error means [Sign] accepts p.
func Validate(p *Policy) error {
	_, err := normalize(p)
	return err
}

// normalize returns p as validation leaves it: defaults applied and values
// in their canonical spelling.
func normalize(p *Policy) (*Policy, error) {
	q, problems := fromDocument(toDocument(p))
	if len(problems) > 0 {
		return nil, &InvalidError{Problems: problems}
	}
	return q, nil
}
