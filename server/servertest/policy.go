package servertest

import (
	"fmt"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/casekeep/casekeep/policy"
)

// PolicyYAML is the rigs' policy at a version, in which %[1]s stands for
// the escrow recipient: a cache in /tmp/ck-test-cache on Linux, disk
// encryption required, the other fields as the defaults have them.
func PolicyYAML(version int) string {
	return fmt.Sprintf(`version: %d
name: test
issued_at: 2026-01-01T09:00:00Z
vault:
  cache_paths: {linux: /tmp/ck-test-cache}
  escrow_recipients: [%%[1]s]
checks:
  required: [disk_encryption]
`, version)
}

// Policy parses a policy's YAML in which %[1]s stands for the escrow
// recipient, with a new escrow identity, and returns both.
func Policy(t testing.TB, yaml string) (*policy.Policy, *age.X25519Identity) {
	t.Helper()
	escrow, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	src := yaml
	if strings.Contains(yaml, "%[1]s") {
		src = fmt.Sprintf(yaml, escrow.Recipient())
	}
	p, err := policy.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p, escrow
}
