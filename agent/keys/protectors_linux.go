package keys

import (
	"path/filepath"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"

	"github.com/casekeep/casekeep/internal/wire"
)

// tpmDevice is the kernel's TPM 2.0 resource manager: it lets several
// programs share the TPM without tracking each other's handles.
const tpmDevice = "/dev/tpmrm0"

// defaultProtectors on Linux: the TPM 2.0 through /dev/tpmrm0, else a
// root-only file in the state folder (wire.OfflineOS: the file's mode is
// its only protection, so a disk read without the OS running reads it).
// Both are always listed, so that a shred removes a TPM copy even when the
// TPM has since been turned off; saving to a missing TPM fails at once.
func defaultProtectors(dir string) []protector {
	return []protector{
		newTPMProtector(dir, func() (transport.TPMCloser, error) { return linuxtpm.Open(tpmDevice) }),
		&fileProtector{path: filepath.Join(dir, offlinePrefix+"os"), k: wire.OfflineOS},
	}
}
