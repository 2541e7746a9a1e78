package keys

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// dpapiEntropy is DPAPI's optional entropy: it keeps another program that
// calls CryptUnprotectData on the file without knowing it from succeeding
// by accident, though not by intent (it is in this binary).
var dpapiEntropy = []byte("casekeep offline lease v1")

// dpapiProtect protects blob with DPAPI, machine scope.
func dpapiProtect(blob []byte) ([]byte, error) {
	var out windows.DataBlob
	err := windows.CryptProtectData(newBlob(blob), nil, newBlob(dpapiEntropy), 0, nil,
		windows.CRYPTPROTECT_LOCAL_MACHINE|windows.CRYPTPROTECT_UI_FORBIDDEN, &out)
	if err != nil {
		return nil, fmt.Errorf("DPAPI: protecting the offline copy: %w", err)
	}
	return takeBlob(&out, false), nil
}

// dpapiUnprotect reverses dpapiProtect.
func dpapiUnprotect(data []byte) ([]byte, error) {
	var out windows.DataBlob
	err := windows.CryptUnprotectData(newBlob(data), nil, newBlob(dpapiEntropy), 0, nil,
		windows.CRYPTPROTECT_UI_FORBIDDEN, &out)
	if err != nil {
		return nil, fmt.Errorf("%w: DPAPI: unprotecting the offline copy: %v", ErrDamaged, err)
	}
	return takeBlob(&out, true), nil
}

func newBlob(b []byte) *windows.DataBlob {
	if len(b) == 0 {
		return &windows.DataBlob{}
	}
	return &windows.DataBlob{Size: uint32(len(b)), Data: &b[0]}
}

// takeBlob copies out DPAPI's result and frees it, zeroing it first when
// it is the plaintext.
func takeBlob(d *windows.DataBlob, secret bool) []byte {
	if d.Data == nil {
		return nil
	}
	mem := unsafe.Slice(d.Data, d.Size)
	b := append([]byte(nil), mem...)
	if secret {
		clear(mem)
	}
	windows.LocalFree(windows.Handle(unsafe.Pointer(d.Data)))
	return b
}
