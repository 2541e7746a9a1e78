package storage

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
)

// This file holds the parsing behind the Windows source, free of build
// tags so it is tested and fuzzed everywhere.

// Windows STORAGE_BUS_TYPE values.
const (
	winBusUnknown           = 0x00
	winBusSCSI              = 0x01
	winBusATAPI             = 0x02
	winBusATA               = 0x03
	winBus1394              = 0x04
	winBusSSA               = 0x05
	winBusFibre             = 0x06
	winBusUSB               = 0x07
	winBusRAID              = 0x08
	winBusISCSI             = 0x09
	winBusSAS               = 0x0A
	winBusSATA              = 0x0B
	winBusSD                = 0x0C
	winBusMMC               = 0x0D
	winBusVirtual           = 0x0E
	winBusFileBackedVirtual = 0x0F
	winBusSpaces            = 0x10
	winBusNVMe              = 0x11
)

// winBus maps a STORAGE_BUS_TYPE to a Bus.
func winBus(t uint32) Bus {
	switch t {
	case winBusUnknown:
		return BusUnknown
	case winBusUSB:
		return BusUSB
	case winBusATA, winBusATAPI, winBusSATA:
		return BusSATA
	case winBusNVMe:
		return BusNVMe
	case winBusSD, winBusMMC:
		return BusMMC
	case winBusVirtual, winBusFileBackedVirtual:
		return BusVirtual
	}
	return BusOther
}

// deviceDescriptor is what matters in a STORAGE_DEVICE_DESCRIPTOR.
type deviceDescriptor struct {
	BusType        uint32
	RemovableMedia bool
	Vendor         string // "SanDisk", cleaned
	Product        string // "Cruzer Blade", cleaned
	Serial         string // cleaned; often missing or garbled for USB disks
}

// The layout of STORAGE_DEVICE_DESCRIPTOR (winioctl.h):
//
//	0  DWORD Version
//	4  DWORD Size
//	8  BYTE  DeviceType
//	9  BYTE  DeviceTypeModifier
//	10 BOOLEAN RemovableMedia
//	11 BOOLEAN CommandQueueing
//	12 DWORD VendorIdOffset
//	16 DWORD ProductIdOffset
//	20 DWORD ProductRevisionOffset
//	24 DWORD SerialNumberOffset
//	28 STORAGE_BUS_TYPE BusType
//	32 DWORD RawPropertiesLength
//	36 BYTE  RawDeviceProperties[]
//
// String offsets count from the start of the descriptor; 0 means absent,
// and the strings are NUL-terminated ASCII.
const descriptorFixedLen = 36

var errDescriptor = errors.New("storage: short or inconsistent storage device descriptor")

// parseDeviceDescriptor reads a STORAGE_DEVICE_DESCRIPTOR as returned by
// IOCTL_STORAGE_QUERY_PROPERTY. Offsets and sizes are not trusted: a
// string that lies outside the buffer is left empty.
func parseDeviceDescriptor(buf []byte) (deviceDescriptor, error) {
	if len(buf) < descriptorFixedLen {
		return deviceDescriptor{}, errDescriptor
	}
	le := binary.LittleEndian
	size := le.Uint32(buf[4:])
	if size < descriptorFixedLen {
		return deviceDescriptor{}, errDescriptor
	}
	if int64(size) < int64(len(buf)) {
		buf = buf[:size]
	}
	d := deviceDescriptor{
		BusType:        le.Uint32(buf[28:]),
		RemovableMedia: buf[10] != 0,
	}
	str := func(off uint32, max int) string {
		if off < descriptorFixedLen || int64(off) >= int64(len(buf)) {
			return ""
		}
		s := buf[off:]
		if i := strings.IndexByte(string(s), 0); i >= 0 {
			s = s[:i]
		}
		return CleanText(string(s), max)
	}
	d.Vendor = str(le.Uint32(buf[12:]), MaxTextLen)
	d.Product = str(le.Uint32(buf[16:]), MaxTextLen)
	d.Serial = str(le.Uint32(buf[24:]), MaxSerialLen)
	return d, nil
}

// usbInstance is what a USB device instance id says.
type usbInstance struct {
	VendorID  string // four lower-case hex digits
	ProductID string // four lower-case hex digits
	Serial    string // "" when Windows made the id up (the device has no serial)
	Interface bool   // an interface of a composite device (&MI_xx), not the device
}

// parseUSBInstanceID parses a USB device instance id such as
// `USB\VID_0781&PID_5581\4C530001230101113424`. The last part is the
// device's serial unless Windows generated it, which it does for devices
// without a usable serial and for the interfaces of composite devices
// (such ids hold "&", as in `6&2a1b3c4d&0&1`).
func parseUSBInstanceID(id string) (usbInstance, bool) {
	parts := strings.Split(id, `\`)
	if len(parts) != 3 || !strings.EqualFold(parts[0], "USB") {
		return usbInstance{}, false
	}
	var u usbInstance
	for _, f := range strings.Split(parts[1], "&") {
		k, v, ok := strings.Cut(f, "_")
		if !ok {
			return usbInstance{}, false
		}
		switch strings.ToUpper(k) {
		case "VID":
			u.VendorID = hexID(v)
		case "PID":
			u.ProductID = hexID(v)
		case "MI":
			u.Interface = true
		}
	}
	if u.VendorID == "" || u.ProductID == "" {
		return usbInstance{}, false
	}
	if !strings.Contains(parts[2], "&") {
		u.Serial = CleanText(parts[2], MaxSerialLen)
	}
	return u, true
}

// interfaceInstanceID turns a device interface path into the instance id
// of its device: `\\?\USBSTOR#Disk&Ven_SanDisk&Prod_Cruzer#4C53&0#{53f5...}`
// becomes `USBSTOR\Disk&Ven_SanDisk&Prod_Cruzer\4C53&0`. Instance ids with
// "#" in them cannot be told apart from the separators; they are rare and
// their lookup simply fails.
func interfaceInstanceID(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, `\\?\`)
	if !ok {
		if rest, ok = strings.CutPrefix(path, `\??\`); !ok {
			return "", false
		}
	}
	i := strings.LastIndex(rest, "#{")
	if i <= 0 || !strings.HasSuffix(rest, "}") {
		return "", false
	}
	if strings.Contains(rest[:i], `\`) {
		return "", false // the separators were all turned into "#"
	}
	parts := strings.Split(rest[:i], "#")
	if len(parts) < 3 || slices.Contains(parts, "") {
		return "", false
	}
	return strings.Join(parts, `\`), true
}

// driveRoot returns the drive letter of a Windows drive root such as `E:\`
// (or `E:`), upper-cased, or 0.
func driveRoot(mount string) byte {
	if len(mount) < 2 || len(mount) > 3 || mount[1] != ':' || len(mount) == 3 && mount[2] != '\\' {
		return 0
	}
	c := mount[0] &^ 0x20
	if c < 'A' || c > 'Z' {
		return 0
	}
	return c
}
