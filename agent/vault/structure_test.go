package vault

import (
	"bytes"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestCheckStructure: what a locked vault checks of a file it has just
// sealed: a stanza for each recipient, of its kind, and no more; and the
// whole file there.
func TestCheckStructure(t *testing.T) {
	dev, _ := age.GenerateX25519Identity()
	escrow, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateHybridIdentity()
	stanzas, err := stanzaKinds([]age.Recipient{dev.Recipient(), escrow.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	v := &Vault{stanzas: stanzas}
	seal := func(content string, rs ...age.Recipient) ([]byte, []byte) {
		var b bytes.Buffer
		w, err := age.Encrypt(&b, rs...)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
		w.Close()
		hdr, err := readHeader(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		return b.Bytes(), hdr
	}
	content := strings.Repeat("case notes ", 10_000) // two chunks
	file, hdr := seal(content, dev.Recipient(), escrow.Recipient())
	if err := v.checkStructure(hdr, int64(len(file)), int64(len(content))); err != nil {
		t.Errorf("a good file: %v", err)
	}
	if err := v.checkStructure(hdr, int64(len(file))-1000, int64(len(content))); err == nil {
		t.Error("a truncated file passed")
	}
	if err := v.checkStructure(hdr, int64(len(file)), int64(len(content))+1); err == nil {
		t.Error("a file of another size passed")
	}
	for name, rs := range map[string][]age.Recipient{
		"one recipient missing": {dev.Recipient()},
		"one too many":          {dev.Recipient(), escrow.Recipient(), escrow.Recipient()},
	} {
		f, h := seal(content, rs...)
		if err := v.checkStructure(h, int64(len(f)), int64(len(content))); err == nil {
			t.Errorf("%s: passed", name)
		}
	}
	f, h := seal(content, other.Recipient())
	if err := v.checkStructure(h, int64(len(f)), int64(len(content))); err == nil {
		t.Error("a post-quantum file for a classic vault passed")
	}
}
