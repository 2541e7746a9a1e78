package keys

import (
	"path/filepath"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/windowstpm"

	"github.com/casekeep/casekeep/internal/wire"
)

// defaultProtectors on Windows: the TPM 2.0 through TBS (the TPM Base
// Services, which share it between programs), else DPAPI with machine
// scope (wire.OfflineOS): any process on this computer running as SYSTEM
// or an administrator can unprotect it, but a copy of the disk read on
// another computer cannot. Both are always listed, so that a shred
// removes a TPM copy even when the TPM has since been turned off.
func defaultProtectors(dir string) []protector {
	return []protector{
		newTPMProtector(dir, func() (transport.TPMCloser, error) { return windowstpm.Open() }),
		&fileProtector{path: filepath.Join(dir, offlinePrefix+"dpapi"), k: wire.OfflineOS, seal: dpapiProtect, unseal: dpapiUnprotect},
	}
}
