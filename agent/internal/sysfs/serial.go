package sysfs

import (
	"path/filepath"
	"strings"
)

// maxSerial is the longest hardware serial taken; a longer one is not a
// serial number.
const maxSerial = 128

// Serial reads the machine's serial number from the firmware tables under
// the sysfs root sys (class/dmi/id/product_serial), bounded as [Attr] is,
// or "" where it cannot be read (only root can) or holds a placeholder
// ("None", "O.E.M.", "To be filled by O.E.M.") rather than a serial.
func Serial(sys string) string {
	s := Attr(filepath.Join(sys, "class", "dmi", "id", "product_serial"))
	if s == "" || strings.EqualFold(s, "None") || strings.Contains(s, "O.E.M.") || len(s) > maxSerial {
		return ""
	}
	return s
}
