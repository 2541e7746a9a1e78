package storage

// Seams for the tests in package storage_test: the parsers behind the
// Windows and macOS sources, which have no build tags so they are tested
// and fuzzed on every system.

type (
	DeviceDescriptor = deviceDescriptor
	USBInstance      = usbInstance
	DiskInfo         = diskInfo
)

var (
	ParseDeviceDescriptor = parseDeviceDescriptor
	ParseUSBInstanceID    = parseUSBInstanceID
	InterfaceInstanceID   = interfaceInstanceID
	WinBus                = winBus
	DriveRoot             = driveRoot
	ParsePlist            = parsePlist
	ParseDiskutilInfo     = parseDiskutilInfo
	ParseIoregUSB         = parseIoregUSB
	ValidDiskName         = validDiskName
)
