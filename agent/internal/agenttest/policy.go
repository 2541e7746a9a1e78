package agenttest

import (
	"strconv"
	"testing"

	"github.com/casekeep/casekeep/policy"
)

// Policy is a policy of version for a test, sealing to the escrow
// recipient, whose case references are the cache's top folders
// ("LL-123456/"). more is YAML that follows the vault section's keys: lines
// indented by two spaces add to the vault section ("  debounce: ..."),
// others are sections of their own ("classify:", "storage:").
func Policy(t testing.TB, version int, escrow, more string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(`version: ` + strconv.Itoa(version) + `
name: Test council
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths: {linux: /unused, macos: /unused, windows: 'C:\unused'}
  case_ref_pattern: '^(?P<ref>[A-Z]{2}-[0-9]{6})/'
  escrow_recipients: [` + escrow + `]
` + more))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
