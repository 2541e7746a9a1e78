package keys

import (
	"testing"
	"time"
)

// BenchmarkUnlock measures Unlock: reading the wrapped file, the AEAD, and
// parsing the identities (a hybrid one costs an ML-KEM key expansion).
func BenchmarkUnlock(b *testing.B) {
	for _, c := range []struct {
		name string
		pq   bool
	}{{"x25519", false}, {"hybrid", true}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			key := leaseKey("bench")
			if _, err := create(dir, devA, key, "k1", c.pq, nil); err != nil {
				b.Fatal(err)
			}
			k, err := open(dir, devA, nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := k.Unlock(key, "k1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSaveOffline measures a SaveOffline that reseals every time (each
// until moves by more than resealAfter), and one a renewal skips.
func benchSaveOffline(b *testing.B, ps func(dir string) []protector) {
	dir := b.TempDir()
	k, err := create(dir, devA, leaseKey("bench"), "k1", false, ps(dir))
	if err != nil {
		b.Fatal(err)
	}
	until := time.Now().Add(72 * time.Hour)
	b.Run("reseal", func(b *testing.B) {
		for b.Loop() {
			until = until.Add(resealAfter + time.Minute)
			if err := k.SaveOffline(until); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("renewal-skipped", func(b *testing.B) {
		for b.Loop() {
			if err := k.SaveOffline(until.Add(time.Second)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unlock-offline", func(b *testing.B) {
		for b.Loop() {
			k.Lock()
			if err := k.UnlockOffline(time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSaveOfflineFile(b *testing.B) {
	benchSaveOffline(b, func(dir string) []protector { return []protector{osFile(dir)} })
}
