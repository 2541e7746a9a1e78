package testenv

import (
	"os"
	"testing"
	"time"
)

// Unavailable skips the test with the message, or fails it when the
// environment variable CI is "true".
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run this test: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Eventually polls cond every 10 ms until it holds, and fails the test if it
// does not within 15 s: generous, since CI machines are shared and slow.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// OpenDir returns a temporary folder every user may search (t.TempDir's
// are 0700), removed when the test ends, for a socket or a program
// another account must reach.
func OpenDir(t testing.TB, pattern string) string {
	t.Helper()
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
