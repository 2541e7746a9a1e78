//go:build !linux && !windows

package secret

// dontDump does nothing: only Linux can leave one mapping out of a core
// dump. The process-wide switch (keys.DisableCoreDumps) covers the rest.
func dontDump(mem []byte) {}
