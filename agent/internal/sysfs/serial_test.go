package sysfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/internal/sysfs"
)

// Serial takes the firmware's product serial, trimmed, and leaves out what
// is missing, a placeholder or too long to be a serial.
func TestSerial(t *testing.T) {
	for content, want := range map[string]string{
		"  PF2ABCDE\n":            "PF2ABCDE",
		"None\n":                  "",
		"none":                    "",
		"To be filled by O.E.M.":  "",
		"\n":                      "",
		strings.Repeat("x", 128):  strings.Repeat("x", 128),
		strings.Repeat("x", 129):  "",
		strings.Repeat("x", 9000): "",
	} {
		sys := t.TempDir()
		dir := filepath.Join(sys, "class", "dmi", "id")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "product_serial"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := sysfs.Serial(sys); got != want {
			t.Errorf("product_serial %.20q: Serial = %.20q, want %.20q", content, got, want)
		}
	}
	if got := sysfs.Serial(t.TempDir()); got != "" {
		t.Errorf("no product_serial: Serial = %q", got)
	}
	// A folder where the attribute should be is not read.
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class", "dmi", "id", "product_serial"), 0o755)
	if got := sysfs.Serial(sys); got != "" {
		t.Errorf("product_serial a folder: Serial = %q", got)
	}
}
