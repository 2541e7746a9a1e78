package watch_test

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// Linux file names are bytes: hints must carry them exactly, however long
// and whether or not they are UTF-8.
func TestLongAndNonUTF8Names(t *testing.T) {
	t.Parallel()
	h := run(t, newRoot(t), fast)
	long := strings.Repeat("d", 200)
	bad := "caf\xe9-\xff\xfe"
	if utf8.ValidString(bad) {
		t.Fatal("test name is valid UTF-8")
	}
	dirs := []string{long, bad, long + "2", long + "3"}
	names := []string{
		strings.Repeat("f", 251) + ".txt", // 255 bytes, the longest name
		"r\xe9sum\xe9.doc",
		"\x01\x7f\xc3(.txt",
	}
	mkdirAll(t, filepath.Join(append([]string{h.root}, dirs...)...))
	var want []string
	for _, name := range names {
		parts := append(append([]string{h.root}, dirs...), name)
		write(t, filepath.Join(parts...), "x")
		want = append(want, strings.Join(append(append([]string(nil), dirs...), name), "/"))
	}
	h.waitPaths(want...)
	// Later writes in the deepest folder are events, not the walk.
	later := strings.Repeat("\xfe", 100)
	write(t, filepath.Join(append(append([]string{h.root}, dirs...), later)...), "y")
	h.waitPaths(strings.Join(dirs, "/") + "/" + later)
}
