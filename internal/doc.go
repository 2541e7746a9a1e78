// Package internal is the root of small pieces shared by the agent and the
// server that are not part of casekeep's public surface: atomic file writes
// now, and later the wire protocol, the clock and test helpers. Each lives
// in a subpackage of its own with a single concern; this package itself holds
// no code.
package internal
