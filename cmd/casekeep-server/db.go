package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/kek"
	"github.com/casekeep/casekeep/server/store/postgres"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

const dbHelp = "the store: `sqlite:PATH` (embedded) or postgres://user@host/db"

// openStore opens the store a --db value names, and says whether it is
// PostgreSQL (which takes several writers).
func openStore(ctx context.Context, dsn string) (store.Store, bool, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, false, cli.Usagef("--db sqlite: needs a file path, as in sqlite:/var/lib/casekeep-server/casekeep.db")
		}
		s, err := sqlite.Open(path)
		return s, false, err
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err := postgres.Open(ctx, dsn)
		return s, true, err
	case dsn == "":
		return nil, false, cli.Usagef("--db is required: sqlite:PATH or postgres://...")
	}
	return nil, false, cli.Usagef("--db %q: use sqlite:PATH or postgres://...", redact(dsn))
}

// withStore opens the store a --db value names, calls f with it, and
// closes it.
func withStore(dsn string, f func(ctx context.Context, st store.Store) error) error {
	ctx := context.Background()
	st, _, err := openStore(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(ctx, st)
}

// redact hides a password in a DSN (user:password@ or password=) before it
// is printed.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "sqlite" {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "***")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// useKEK gives st the lease keys' key-encryption key in the file path,
// so that it can serve and rotate them: the database holds them only
// sealed with it. With create, the file (and its folder) is made on first
// use, mode 0600; without, it must exist, so that a command run with the
// wrong --data or --kek does not seal keys with a key the server lacks.
func useKEK(st store.Store, path string, create bool) error {
	var (
		sealer *kek.Sealer
		err    error
	)
	if create {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		sealer, err = kek.LoadOrCreateFile(path)
	} else {
		sealer, err = kek.LoadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w (give the server's --data or --kek)", err)
		}
	}
	if err != nil {
		return fmt.Errorf("the lease keys' key-encryption key: %w", err)
	}
	if sl, ok := st.(store.Sealing); ok {
		sl.UseKeySealer(sealer)
	}
	return nil
}

// dataHelp is the --data flag's help where a command needs the lease
// keys' key-encryption key.
const dataHelp = "the server's data `DIR`, which holds the lease keys' key-encryption key (default: the SQLite database's folder, else /var/lib/casekeep-server)"

// kekHelp is the --kek flag's help.
const kekHelp = "the lease keys' key-encryption key `FILE` (default: lease-kek in the data folder); keep it out of the database's folder and its backups"

// kekFile is the --kek value given, or the data folder's kek.File.
func kekFile(given, dataDir string) string {
	if given != "" {
		return given
	}
	return filepath.Join(dataDir, kek.File)
}

// kekBesideDB is a warning if the key-encryption key file is in the same
// folder as the SQLite database dsn names ("" if not, or for PostgreSQL):
// a backup of that folder would hold both, and open every lease key.
func kekBesideDB(dsn, kekPath string) string {
	db, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || db == "" {
		return ""
	}
	dir := func(p string) string {
		d := filepath.Dir(p)
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		if real, err := filepath.EvalSymlinks(d); err == nil {
			d = real
		}
		return d
	}
	if dir(db) != dir(kekPath) {
		return ""
	}
	return fmt.Sprintf("the lease keys' key-encryption key %s is in the SQLite database's folder: a backup of that folder holds both, and opens every device's lease key; move it elsewhere and pass --kek FILE (and --data or --kek to lease rotate)", kekPath)
}

// dataDir is the --data value given, or the default for dsn: the folder
// of a SQLite database, else /var/lib/casekeep-server.
func dataDir(dsn, given string) string {
	if given != "" {
		return given
	}
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok && path != "" {
		return filepath.Dir(path)
	}
	return "/var/lib/casekeep-server"
}

// withKeyStore is withStore with the store given the key-encryption key
// kekPath, else that of the data folder dir (see dataDir); create says
// whether it may be made.
func withKeyStore(dsn, dir, kekPath string, create bool, f func(ctx context.Context, st store.Store) error) error {
	return withStore(dsn, func(ctx context.Context, st store.Store) error {
		if err := useKEK(st, kekFile(kekPath, dataDir(dsn, dir)), create); err != nil {
			return err
		}
		return f(ctx, st)
	})
}
