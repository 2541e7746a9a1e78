package vault_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// BenchmarkSealFile seals one file per operation, fsyncs included; its
// reference, BenchmarkAgeEncrypt, is age encrypting the same bytes in memory
// to the same recipients, the ceiling the vault works under.
func BenchmarkSealFile(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("size=%s", sizeName(size)), func(b *testing.B) {
			e := newEnv(b)
			content := strings.Repeat("x", size)
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				name := fmt.Sprintf("f%d", i)
				e.write(name, content, true)
				b.StartTimer()
				if _, err := e.v.SealFile(context.Background(), name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAgeEncrypt(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("size=%s", sizeName(size)), func(b *testing.B) {
			e := newEnv(b)
			content := strings.Repeat("x", size)
			b.SetBytes(int64(size))
			for b.Loop() {
				w, err := age.Encrypt(io.Discard, e.Keys.Recipient(), e.EscrowRecipient)
				if err != nil {
					b.Fatal(err)
				}
				io.WriteString(w, content)
				w.Close()
			}
		})
	}
}

// BenchmarkScan scans a cache of 10,000 sealed files: "indexed" is the
// periodic rescan and a restart's scan; "first" is a first start with no
// index, which opens every header (and writes the whole index in one
// transaction).
func BenchmarkScan(b *testing.B) {
	e := newEnv(b)
	var sealed strings.Builder
	w, _ := age.Encrypt(&sealed, e.Keys.Recipient(), e.EscrowRecipient)
	io.WriteString(w, "note")
	w.Close()
	for i := range 10_000 {
		dir := e.path(fmt.Sprintf("LL-%03d", i/100))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%d.age", i)), []byte(sealed.String()), 0o600)
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			os.Remove(filepath.Join(e.State, "state.db"))
			b.StartTimer()
			rep, err := e.v.Scan(context.Background())
			if err != nil || rep.Sealed != 10_000 || rep.Repaired != 10_000 {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
	b.Run("indexed", func(b *testing.B) {
		for b.Loop() {
			rep, err := e.v.Scan(context.Background())
			if err != nil || rep.Sealed != 10_000 || rep.Repaired != 0 {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
