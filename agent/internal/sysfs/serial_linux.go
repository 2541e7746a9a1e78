package sysfs

// HardwareSerial is this machine's serial number, from the firmware tables
// in /sys (see [Serial]), or "".
func HardwareSerial() string { return Serial("/sys") }
