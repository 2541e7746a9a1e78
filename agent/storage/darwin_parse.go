package storage

import (
	"fmt"
	"strings"
)

// This file interprets diskutil's and ioreg's property lists; it has no
// build tags, so it is tested and fuzzed everywhere.

// diskInfo is what `diskutil info -plist <device>` says about a volume.
type diskInfo struct {
	Bus        Bus
	Removable  bool
	Label      string
	Size       int64
	Model      string
	WholeDisk  string // ParentWholeDisk, such as "disk4"
	Filesystem string // FilesystemType, such as "msdos", "exfat", "apfs"
	Writable   bool   // WritableVolume
}

// darwinBus maps diskutil's BusProtocol.
func darwinBus(p string) Bus {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "":
		return BusUnknown
	case "usb":
		return BusUSB
	case "sata", "ata", "atapi":
		return BusSATA
	case "nvme", "nvmexpress", "pci-express":
		return BusNVMe
	case "secure digital", "sd":
		return BusMMC
	case "disk image", "virtual interface":
		return BusVirtual
	}
	return BusOther
}

// parseDiskutilInfo reads `diskutil info -plist` output. A volume is
// removable if diskutil calls its media removable or ejectable, or the
// device external (Internal false) or on USB.
func parseDiskutilInfo(data []byte) (diskInfo, error) {
	v, err := parsePlist(data)
	if err != nil {
		return diskInfo{}, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return diskInfo{}, fmt.Errorf("%w: diskutil info is not a dict", errPlist)
	}
	str := func(k string, max int) string {
		s, _ := d[k].(string)
		return CleanText(s, max)
	}
	flag := func(k string) (val, present bool) {
		b, ok := d[k].(bool)
		return b, ok
	}
	info := diskInfo{
		Bus:        darwinBus(str("BusProtocol", MaxTextLen)),
		Label:      str("VolumeName", MaxTextLen),
		Model:      str("MediaName", MaxTextLen),
		WholeDisk:  str("ParentWholeDisk", MaxTextLen),
		Filesystem: str("FilesystemType", MaxTextLen),
	}
	if !validDiskName(info.WholeDisk) {
		info.WholeDisk = ""
	}
	for _, k := range []string{"TotalSize", "VolumeSize", "Size", "IOKitSize"} {
		if n, ok := d[k].(int64); ok && n > 0 {
			info.Size = n
			break
		}
	}
	for _, k := range []string{"RemovableMedia", "Removable", "RemovableMediaOrExternalDevice", "Ejectable"} {
		if b, _ := flag(k); b {
			info.Removable = true
		}
	}
	if internal, ok := flag("Internal"); ok && !internal {
		info.Removable = true
	}
	if info.Bus == BusUSB {
		info.Removable = true
	}
	info.Writable, _ = flag("WritableVolume")
	return info, nil
}

// validDiskName reports whether s names a BSD disk or slice, such as
// "disk4" or "disk4s1" (or "disk3s1s1" for an APFS snapshot), so it can be
// passed to diskutil safely.
func validDiskName(s string) bool {
	rest, ok := strings.CutPrefix(s, "disk")
	if !ok || rest == "" || len(s) > 32 {
		return false
	}
	digits := 0
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == 's' && digits > 0:
			digits = 0
		default:
			return false
		}
	}
	return digits > 0
}

// parseIoregUSB finds, in `ioreg -r -c IOUSBHostDevice -l -a` output, the
// USB device nearest above the IOMedia whose "BSD Name" is the given whole
// disk, and returns its ids, serial and name.
func parseIoregUSB(data []byte, wholeDisk string) (usbInstance, string, bool) {
	v, err := parsePlist(data)
	if err != nil || wholeDisk == "" {
		return usbInstance{}, "", false
	}
	dev, found := findUSBAbove(v, wholeDisk, nil, 0)
	if !found || dev == nil {
		return usbInstance{}, "", false
	}
	id := func(k string) string {
		n, ok := dev[k].(int64)
		if !ok || n < 0 || n > 0xffff {
			return ""
		}
		return fmt.Sprintf("%04x", n)
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := dev[k].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	u := usbInstance{
		VendorID:  id("idVendor"),
		ProductID: id("idProduct"),
		Serial:    CleanText(str("USB Serial Number", "kUSBSerialNumberString"), MaxSerialLen),
	}
	if u.VendorID == "" || u.ProductID == "" {
		return usbInstance{}, "", false
	}
	model := joinWords(str("USB Vendor Name", "kUSBVendorString"), str("USB Product Name", "kUSBProductString"))
	return u, model, true
}

// findUSBAbove walks the registry tree; usb is the nearest USB device
// above v. It returns the USB device above the IOMedia named disk.
func findUSBAbove(v any, disk string, usb map[string]any, depth int) (map[string]any, bool) {
	if depth > maxPlistDepth {
		return nil, false
	}
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if d, ok := findUSBAbove(e, disk, usb, depth+1); ok {
				return d, true
			}
		}
	case map[string]any:
		if _, ok := t["idVendor"].(int64); ok {
			usb = t
		}
		if name, _ := t["BSD Name"].(string); name == disk {
			return usb, usb != nil
		}
		if kids, ok := t["IORegistryEntryChildren"]; ok {
			return findUSBAbove(kids, disk, usb, depth+1)
		}
	}
	return nil, false
}
