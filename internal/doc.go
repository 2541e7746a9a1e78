// Package internal is the root of small pieces shared by the agent, the
// server and their commands that are not part of casekeep's public surface:
// the wire protocol between agent and server, atomic file writes, the
// cleaning of untrusted text for display (printable), the questions asked
// of a file's owner and permissions before it is trusted (fileowner), sizes
// written for people (units), the command-line helpers (cli, with clitest
// for the commands' tests) and the test kits. Each lives in a subpackage of
// its own with a single concern; this package itself holds no code.
package internal
