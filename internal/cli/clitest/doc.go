// Package clitest is the kit the tests of the commands in cmd/ share:
// [Result] is what a run of a command did, its exit code and what it
// printed, and [Result.Want] fails the test unless it exited as the test
// expects, showing what it printed; [Run] runs a command tree in the test's
// own process, as [cli.Main] runs it for the binary. The package is for
// tests only; it imports testing.
package clitest
