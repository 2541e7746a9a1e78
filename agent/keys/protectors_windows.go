package keys

import (
	"path/filepath"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/windowstpm"

	"github.com/casekeep/casekeep/internal/wire"
)

// defaultProtectors on Windows: the TPM 2.0 through TBS (the TPM Base
// Services, which share it between programs), else DPAPI with machine
// scope (wire.OfflineOS). Machine-scope DPAPI is no more than the disk's
// own protection: any process on this computer running as SYSTEM or an
// administrator can unprotect it, and so can anyone who reads the disk
// elsewhere (the machine's DPAPI key is in the registry hives on it) unless
// the disk is encrypted (BitLocker). Both are always listed, so that a shred
// removes a TPM copy even when the TPM has since been turned off.
func defaultProtectors(dir string) []protector {
	return []protector{
		newTPMProtector(dir, func() (transport.TPMCloser, error) { return windowstpm.Open() }),
		&fileProtector{path: filepath.Join(dir, offlinePrefix+"dpapi"), k: wire.OfflineOS, seal: dpapiProtect, unseal: dpapiUnprotect},
	}
}
