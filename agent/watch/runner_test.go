package watch

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestRel(t *testing.T) {
	root := filepath.FromSlash("/srv/cache")
	if vol := filepath.VolumeName(t.TempDir()); vol != "" {
		root = vol + root
	}
	r := &runner{Watcher: &Watcher{root: root}}
	tests := []struct {
		name string
		want string // "" for not produced
	}{
		{root, ""},
		{root + string(filepath.Separator), ""},
		{filepath.Join(root, "a"), "a"},
		{filepath.Join(root, "a", "b c", "d.txt"), "a/b c/d.txt"},
		{filepath.Join(root, "..file"), "..file"},
		{root + string(filepath.Separator) + filepath.FromSlash("../x"), ""},
		{root + string(filepath.Separator) + filepath.FromSlash("a/../../x"), ""},
		{root + string(filepath.Separator) + filepath.FromSlash("a//b"), ""},
		{root + "2" + string(filepath.Separator) + "a", ""},
		{filepath.Dir(root), ""},
	}
	for _, tt := range tests {
		got, ok := r.rel(tt.name)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("rel(%q) = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}

func TestRescanMerging(t *testing.T) {
	tests := []struct {
		requests []string
		want     string
		resync   bool
	}{
		{[]string{ReasonStart, ReasonStart}, "[start]", false},
		{[]string{ReasonStart, ReasonTimer}, "[start]", false},
		{[]string{ReasonTimer, ReasonOverflow, ReasonTimer}, "[overflow]", true},
		{[]string{ReasonStart, ReasonWatchLimit, ReasonBacklog, ReasonWatchLimit}, "[start watch limit backlog]", false},
		{[]string{ReasonBacklog, ReasonError}, "[backlog error]", true},
	}
	for _, tt := range tests {
		r := &runner{}
		for _, reason := range tt.requests {
			r.requestRescan(reason)
		}
		if got := fmt.Sprint(r.rescans); got != tt.want || r.resync != tt.resync {
			t.Errorf("%q: rescans %s, resync %v; want %s, %v", tt.requests, got, r.resync, tt.want, tt.resync)
		}
	}
}
