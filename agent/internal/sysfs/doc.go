// Package sysfs reads Linux's /sys the careful way, for the agent's storage
// monitor and its disk-encryption check alike: ResolveIn follows a link
// only to a folder inside the sysfs root it was given (a test's fake tree
// or the real /sys), and Attr reads one attribute, bounded and only from a
// regular file, so a hostile or broken tree cannot make the agent read a
// device node or an unbounded file. The functions are plain Go and build
// everywhere; only Linux has a /sys to read.
package sysfs
