package keys

// DisableCoreDumps does nothing on Windows, which has no per-process
// switch: Windows Error Reporting can still take a dump of a crashed
// service (a full one, with the heap and the locked pages, only where the
// machine is configured for it with LocalDumps). The service calls it
// once at start on every OS.
func DisableCoreDumps() error { return nil }
