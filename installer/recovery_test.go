package installer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/casekeep/casekeep/installer"
)

func TestWithoutToken(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"run"}, []string{"run"}},
		{[]string{"run", "--server", "https://x", "--token", "SECRET", "-v"}, []string{"run", "--server", "https://x", "-v"}},
		{[]string{"run", "-token", "SECRET", "--server=https://x"}, []string{"run", "--server=https://x"}},
		{[]string{"run", "--token=SECRET", "--server", "https://x"}, []string{"run", "--server", "https://x"}},
		{[]string{"run", "-token=SECRET"}, []string{"run"}},
		{[]string{"run", "--token=", "x"}, []string{"run", "x"}},
		{[]string{"run", "--server", "https://x", "--token"}, []string{"run", "--server", "https://x"}},
		{[]string{"--token", "A", "--token", "B", "run"}, []string{"run"}},
		// Not the token flag: kept.
		{[]string{"run", "--tokens", "x", "token", "--token-file", "f", "--server", "--token-like"}, []string{"run", "--tokens", "x", "token", "--token-file", "f", "--server", "--token-like"}},
	} {
		in := slices.Clone(tc.in)
		got := installer.WithoutToken(in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("WithoutToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("WithoutToken changed its argument: %q", in)
		}
		for _, a := range got {
			if a == "SECRET" || a == "--token=SECRET" {
				t.Errorf("WithoutToken(%q) kept the token", tc.in)
			}
		}
	}
}

func TestRecovery(t *testing.T) {
	want := []time.Duration{5 * time.Second, 30 * time.Second, 60 * time.Second}
	if !slices.Equal(installer.Recovery.Delays, want) || installer.Recovery.Reset != 24*time.Hour {
		t.Errorf("Recovery = %+v", installer.Recovery)
	}
}
