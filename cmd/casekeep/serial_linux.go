package main

import (
	"os"
	"strings"
)

// hardwareSerial reads the machine's serial number from the firmware tables
// (root can read it; otherwise it is left out).
func hardwareSerial() string {
	b, err := os.ReadFile("/sys/class/dmi/id/product_serial")
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if s == "" || strings.EqualFold(s, "None") || strings.Contains(s, "O.E.M.") || len(s) > 128 {
		return ""
	}
	return s
}
