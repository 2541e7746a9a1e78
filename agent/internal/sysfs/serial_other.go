//go:build !linux

package sysfs

// HardwareSerial is not read on this OS yet (macOS: ioreg's
// IOPlatformSerialNumber; Windows: Win32_BIOS.SerialNumber): it is "", and
// the server shows the device without one. (A /sys path here could be a
// folder any user made.)
func HardwareSerial() string { return "" }
