package testenv

import (
	"os"
	"testing"
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
