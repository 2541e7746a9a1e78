package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// OSSource returns this operating system's [Source]: on Windows, one that
// looks at every drive letter (GetLogicalDrives) on a removable, fixed or
// optical drive with media in it, asks the drive for its bus
// (IOCTL_STORAGE_QUERY_PROPERTY; USB hard disks call themselves fixed
// drives, so the bus decides), and finds the USB vendor id, product id and
// serial in the instance id of the USB device the disk hangs off, through
// the configuration manager. It has no notifications: the monitor polls.
func OSSource() Source { return &windowsSource{} }

type windowsSource struct {
	cache detailCache[devInfo] // by drive, volume serial and filesystem
}

// devInfo is what is learned about a drive's device, once per volume.
type devInfo struct {
	bus       Bus
	removable bool
	usb       usbInstance
	model     string
	serial    string // from the descriptor, when the instance id has none
}

// Control codes (winioctl.h), defined here as x/sys lacks them.
const (
	ioctlStorageQueryProperty   = 0x002D1400 // CTL_CODE(IOCTL_STORAGE_BASE, 0x500, METHOD_BUFFERED, FILE_ANY_ACCESS)
	ioctlStorageGetDeviceNumber = 0x002D1080 // CTL_CODE(IOCTL_STORAGE_BASE, 0x420, METHOD_BUFFERED, FILE_ANY_ACCESS)
	fsctlLockVolume             = 0x00090018 // CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 6, METHOD_BUFFERED, FILE_ANY_ACCESS)
	fsctlDismountVolume         = 0x00090020 // CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 8, METHOD_BUFFERED, FILE_ANY_ACCESS)

	storageDeviceProperty = 0 // STORAGE_PROPERTY_ID StorageDeviceProperty
	propertyStandardQuery = 0 // STORAGE_QUERY_TYPE PropertyStandardQuery
)

// storagePropertyQuery is STORAGE_PROPERTY_QUERY.
type storagePropertyQuery struct {
	PropertyID           uint32
	QueryType            uint32
	AdditionalParameters [1]byte
	_                    [3]byte
}

// storageDeviceNumber is STORAGE_DEVICE_NUMBER.
type storageDeviceNumber struct {
	DeviceType      uint32
	DeviceNumber    uint32
	PartitionNumber uint32
}

// GUID_DEVINTERFACE_DISK.
var guidDiskInterface = windows.GUID{Data1: 0x53f56307, Data2: 0xb6bf, Data3: 0x11d0, Data4: [8]byte{0x94, 0xf2, 0x00, 0xa0, 0xc9, 0x1e, 0xfb, 0x8b}}

func (s *windowsSource) Volumes(ctx context.Context) ([]Volume, error) {
	mask, err := windows.GetLogicalDrives()
	if err != nil {
		return nil, fmt.Errorf("storage: GetLogicalDrives: %w", err)
	}
	var out []Volume
	seen := map[string]bool{}
	for i := range 26 {
		if mask&(1<<i) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		letter := byte('A' + i)
		v, key, ok := describeDrive(letter)
		if !ok {
			continue
		}
		info := s.cache.get(key, func() devInfo { return queryDevice(letter) })
		seen[key] = true
		v.Bus = info.bus
		v.Removable = v.Removable || info.removable || info.bus == BusUSB
		v.VendorID, v.ProductID = info.usb.VendorID, info.usb.ProductID
		v.Serial = info.usb.Serial
		if v.Serial == "" && info.bus != BusUSB {
			v.Serial = info.serial
		}
		v.Model = info.model
		out = append(out, v)
	}
	s.cache.keep(seen)
	sortVolumes(out)
	return out, nil
}

// describeDrive reads what the volume itself says; ok is false for drives
// that are not local disks or have no media.
func describeDrive(letter byte) (v Volume, key string, ok bool) {
	root := string(letter) + `:\`
	rootp, err := windows.UTF16PtrFromString(root)
	if err != nil {
		return Volume{}, "", false
	}
	dt := windows.GetDriveType(rootp)
	switch dt {
	case windows.DRIVE_REMOVABLE, windows.DRIVE_FIXED, windows.DRIVE_CDROM:
	default: // network, RAM disk, unknown, no root
		return Volume{}, "", false
	}
	var label, fs [windows.MAX_PATH + 1]uint16
	var serial, maxComp, flags uint32
	if err := windows.GetVolumeInformation(rootp, &label[0], uint32(len(label)), &serial, &maxComp, &flags, &fs[0], uint32(len(fs))); err != nil {
		return Volume{}, "", false // no media in the drive, or not formatted
	}
	var total uint64
	if err := windows.GetDiskFreeSpaceEx(rootp, nil, &total, nil); err != nil {
		total = 0
	}
	v = Volume{
		MountPoint: root,
		Device:     `\\.\` + string(letter) + ":",
		Filesystem: CleanText(windows.UTF16ToString(fs[:]), MaxTextLen),
		Label:      CleanText(windows.UTF16ToString(label[:]), MaxTextLen),
		Removable:  dt == windows.DRIVE_REMOVABLE || dt == windows.DRIVE_CDROM,
		ReadOnly:   flags&windows.FILE_READ_ONLY_VOLUME != 0,
	}
	if total <= 1<<63-1 {
		v.Size = int64(total)
	}
	key = fmt.Sprintf("%c:%08x:%s", letter, serial, v.Filesystem)
	return v, key, true
}

// queryDevice asks the drive's device what it is, and for a USB disk walks
// up the device tree to the USB device's instance id. Whatever fails is
// left unknown.
func queryDevice(letter byte) devInfo {
	var info devInfo
	h, err := openDrive(letter, 0)
	if err != nil {
		return info
	}
	defer windows.CloseHandle(h)
	if d, err := queryDescriptor(h); err == nil {
		info.bus = winBus(d.BusType)
		info.removable = d.RemovableMedia || info.bus == BusMMC
		info.model = joinWords(d.Vendor, d.Product)
		info.serial = d.Serial
	}
	if info.bus != BusUSB {
		return info
	}
	var num storageDeviceNumber
	var n uint32
	if err := windows.DeviceIoControl(h, ioctlStorageGetDeviceNumber, nil, 0, (*byte)(unsafe.Pointer(&num)), uint32(unsafe.Sizeof(num)), &n, nil); err != nil {
		return info
	}
	if u, ok := usbForDisk(num.DeviceNumber); ok {
		info.usb = u
	}
	return info
}

// openDrive opens `\\.\X:`; zero access is enough for the storage queries
// and needs no privilege.
func openDrive(letter byte, access uint32) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(`\\.\` + string(letter) + ":")
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(p, access, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
}

// queryDescriptor runs IOCTL_STORAGE_QUERY_PROPERTY for the device
// descriptor, growing the buffer to the size the driver asks for (up to
// 64KiB).
func queryDescriptor(h windows.Handle) (deviceDescriptor, error) {
	q := storagePropertyQuery{PropertyID: storageDeviceProperty, QueryType: propertyStandardQuery}
	size := 1024
	for range 2 {
		buf := make([]byte, size)
		var n uint32
		if err := windows.DeviceIoControl(h, ioctlStorageQueryProperty, (*byte)(unsafe.Pointer(&q)), uint32(unsafe.Sizeof(q)), &buf[0], uint32(len(buf)), &n, nil); err != nil {
			return deviceDescriptor{}, err
		}
		buf = buf[:min(int(n), len(buf))]
		if len(buf) >= 8 {
			if want := int(binary.LittleEndian.Uint32(buf[4:])); want > size && want <= 64<<10 {
				size = want
				continue
			}
		}
		return parseDeviceDescriptor(buf)
	}
	return deviceDescriptor{}, errDescriptor
}

// usbForDisk finds the USB device of the disk with the given device
// number: it matches the number among the present disk interfaces, turns
// the interface path into the disk's instance id, and walks up the device
// tree (CM_Get_Parent) to the first USB device that is not an interface
// of a composite device.
func usbForDisk(number uint32) (usbInstance, bool) {
	paths, err := windows.CM_Get_Device_Interface_List("", &guidDiskInterface, windows.CM_GET_DEVICE_INTERFACE_LIST_PRESENT)
	if err != nil {
		return usbInstance{}, false
	}
	for _, p := range paths {
		if n, ok := interfaceDeviceNumber(p); !ok || n != number {
			continue
		}
		id, ok := interfaceInstanceID(p)
		if !ok {
			return usbInstance{}, false
		}
		inst, err := cmLocate(id)
		if err != nil {
			return usbInstance{}, false
		}
		for range 6 {
			if inst, err = cmParent(inst); err != nil {
				return usbInstance{}, false
			}
			pid, err := cmDeviceID(inst)
			if err != nil {
				return usbInstance{}, false
			}
			if u, ok := parseUSBInstanceID(pid); ok && !u.Interface {
				return u, true
			}
		}
		return usbInstance{}, false
	}
	return usbInstance{}, false
}

func interfaceDeviceNumber(path string) (uint32, bool) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, false
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return 0, false
	}
	defer windows.CloseHandle(h)
	var num storageDeviceNumber
	var n uint32
	if err := windows.DeviceIoControl(h, ioctlStorageGetDeviceNumber, nil, 0, (*byte)(unsafe.Pointer(&num)), uint32(unsafe.Sizeof(num)), &n, nil); err != nil {
		return 0, false
	}
	return num.DeviceNumber, true
}

// The configuration manager calls x/sys lacks.
var (
	cfgmgr32          = windows.NewLazySystemDLL("cfgmgr32.dll")
	procLocateDevNode = cfgmgr32.NewProc("CM_Locate_DevNodeW")
	procGetParent     = cfgmgr32.NewProc("CM_Get_Parent")
	procGetDeviceID   = cfgmgr32.NewProc("CM_Get_Device_IDW")
)

const maxDeviceIDLen = 200 // MAX_DEVICE_ID_LEN

func crError(name string, r uintptr) error {
	return fmt.Errorf("storage: %s: CONFIGRET %#x", name, r)
}

func cmLocate(id string) (uint32, error) {
	if err := procLocateDevNode.Find(); err != nil {
		return 0, err
	}
	p, err := windows.UTF16PtrFromString(id)
	if err != nil {
		return 0, err
	}
	var inst uint32
	r, _, _ := procLocateDevNode.Call(uintptr(unsafe.Pointer(&inst)), uintptr(unsafe.Pointer(p)), 0) // CM_LOCATE_DEVNODE_NORMAL
	if r != 0 {
		return 0, crError("CM_Locate_DevNode", r)
	}
	return inst, nil
}

func cmParent(inst uint32) (uint32, error) {
	if err := procGetParent.Find(); err != nil {
		return 0, err
	}
	var parent uint32
	r, _, _ := procGetParent.Call(uintptr(unsafe.Pointer(&parent)), uintptr(inst), 0)
	if r != 0 {
		return 0, crError("CM_Get_Parent", r)
	}
	return parent, nil
}

func cmDeviceID(inst uint32) (string, error) {
	if err := procGetDeviceID.Find(); err != nil {
		return "", err
	}
	var buf [maxDeviceIDLen + 1]uint16
	r, _, _ := procGetDeviceID.Call(uintptr(inst), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	if r != 0 {
		return "", crError("CM_Get_Device_ID", r)
	}
	return strings.TrimSpace(windows.UTF16ToString(buf[:])), nil
}
