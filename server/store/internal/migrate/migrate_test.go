package migrate_test

import (
	"testing"
	"testing/fstest"

	"github.com/casekeep/casekeep/server/store/internal/migrate"
)

func TestList(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_first.sql": {Data: []byte("A")},
		"m/README":         {Data: []byte("not a migration")},
	}
	ms, err := migrate.List(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[0].SQL != "A" || ms[1].Version != 10 || ms[1].Name != "0010_later.sql" {
		t.Errorf("List = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number":   {"m/init.sql": {}},
		"zero":        {"m/0000_init.sql": {}},
		"same number": {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"empty":       {"m/README": {}},
	} {
		if _, err := migrate.List(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
