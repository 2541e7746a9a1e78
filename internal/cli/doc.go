// Package cli is the command-line plumbing shared by the two binaries in cmd/:
// nested subcommands, flags that may come before or after the arguments,
// --help on every command, and the exit codes every command keeps to:
// 0 for success, 1 for bad input or a failed operation, 2 for wrong usage.
// Only cmd/ imports it; the packages that do the work take plain arguments.
package cli
