package units_test

import (
	"math"
	"testing"

	"github.com/casekeep/casekeep/internal/units"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 512: "512 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		10 << 20: "10.0 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB", math.MaxInt64: "8.0 EiB", -5: "-5 B",
	} {
		if got := units.Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
