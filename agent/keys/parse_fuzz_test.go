package keys

import (
	"strings"
	"testing"

	"filippo.io/age"
)

// FuzzParse feeds the identity file parser arbitrary bytes, as a damaged
// state folder would. It must not panic; what it accepts must have a current
// identity whose recipient it reports, and its errors must never quote the
// file (which may hold key material).
func FuzzParse(f *testing.F) {
	x, _ := age.GenerateX25519Identity()
	h, _ := age.GenerateHybridIdentity()
	f.Add([]byte(x.String() + "\n"))
	f.Add([]byte("# created: 2026-01-01\n" + x.String() + "\n" + h.String() + "\n"))
	f.Add([]byte("AGE-SECRET-KEY-1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := parse(b, "identity")
		if err != nil {
			for _, line := range strings.Fields(string(b)) {
				if len(line) >= 16 && strings.Contains(err.Error(), line) {
					t.Fatalf("the error quotes the file: %v", err)
				}
			}
			return
		}
		if len(file.ids) == 0 || file.recipient == nil {
			t.Fatal("accepted a file with no current identity")
		}
	})
}
