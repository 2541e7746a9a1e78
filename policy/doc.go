// Package policy is the document IT security writes and every laptop obeys:
// where the encrypted case-file cache lives and who can recover it, what to
// do about USB drives, sync folders and stray downloads, how often to report,
// and which posture checks a device must pass.
//
// A policy is authored as YAML and read with [Parse], which applies defaults,
// refuses unknown fields and reports every problem with its line. Its
// [Canonical] encoding (compact JSON with every default written out) gives
// the same bytes for the same policy; [Sign] signs that encoding with an
// Ed25519 policy key into a one-file bundle, and [Verify] checks a bundle
// against the pinned public key and refuses any version not newer than the
// one in force, so a policy can never be rolled back.
//
// Errors can be told apart with errors.Is: [ErrInvalid] (the policy itself is
// wrong; an [*InvalidError] lists the problems), [ErrMalformed] (not a bundle,
// or empty, or truncated), [ErrWrongKey], [ErrBadSignature] and [ErrRollback].
package policy
