package storage

// OSSource returns this operating system's [Source]: on Linux, one that
// reads /proc/self/mountinfo and /sys (see [NewLinuxSource]) and wakes the
// monitor as soon as the mount table changes.
func OSSource() Source { return NewLinuxSource(LinuxPaths{}) }
