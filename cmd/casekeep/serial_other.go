//go:build !linux

package main

// hardwareSerial is not read on this OS yet (macOS: ioreg's
// IOPlatformSerialNumber; Windows: Win32_BIOS.SerialNumber); the server
// shows the device without one.
func hardwareSerial() string { return "" }
