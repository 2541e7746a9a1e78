//go:build !linux && !windows && !darwin

package keys

import (
	"path/filepath"

	"github.com/casekeep/casekeep/internal/wire"
)

// defaultProtectors elsewhere (the BSDs): a root-only file in the state
// folder, wire.OfflineOS.
func defaultProtectors(dir string) []protector {
	return []protector{&fileProtector{path: filepath.Join(dir, offlinePrefix+"os"), k: wire.OfflineOS}}
}
