package secret

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// alloc commits n bytes (rounded up to pages by Windows) of private memory
// outside the Go heap and tries to lock it into the working set.
func alloc(n int) (mem []byte, locked bool, err error) {
	addr, err := windows.VirtualAlloc(0, uintptr(n), windows.MEM_COMMIT|windows.MEM_RESERVE, windows.PAGE_READWRITE)
	if err != nil {
		return nil, false, err
	}
	mem = unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), n)
	locked = windows.VirtualLock(addr, uintptr(n)) == nil
	return mem, locked, nil
}

func free(mem []byte, locked bool) {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	if locked {
		windows.VirtualUnlock(addr, uintptr(len(mem)))
	}
	windows.VirtualFree(addr, 0, windows.MEM_RELEASE)
}
