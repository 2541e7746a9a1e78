package secret

import "golang.org/x/sys/unix"

// dontDump asks Linux to leave the mapping out of core dumps.
func dontDump(mem []byte) { unix.Madvise(mem, unix.MADV_DONTDUMP) }
