// Package sysfs reads Linux's /sys the careful way, for the agent's storage
// monitor, its disk-encryption check and its enrollment alike: ResolveIn
// follows a link only to a folder inside the sysfs root it was given (a
// test's fake tree or the real /sys), and Attr reads one attribute, bounded
// and only from a regular file, so a hostile or broken tree cannot make the
// agent read a device node or an unbounded file. Serial reads the machine's
// serial number from the firmware tables that way, and HardwareSerial is it
// for this machine (on Linux; elsewhere it is not read yet). The functions
// but HardwareSerial are plain Go and build everywhere; only Linux has a
// /sys to read.
package sysfs
