package storage_test

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/casekeep/casekeep/agent/storage"
)

// descriptor lays out a STORAGE_DEVICE_DESCRIPTOR the way Windows returns
// it: the fixed part, then the NUL-terminated strings; an empty string is
// left out (offset 0), as drivers do.
func descriptor(bus uint32, removable bool, vendor, product, rev, serial string) []byte {
	buf := make([]byte, 40)
	binary.LittleEndian.PutUint32(buf[0:], 40) // Version = sizeof
	buf[8] = 0                                 // DeviceType: direct access
	if removable {
		buf[10] = 1
	}
	put := func(at int, s string) {
		if s == "" {
			return
		}
		binary.LittleEndian.PutUint32(buf[at:], uint32(len(buf)))
		buf = append(buf, s...)
		buf = append(buf, 0)
	}
	put(12, vendor)
	put(16, product)
	put(20, rev)
	put(24, serial)
	binary.LittleEndian.PutUint32(buf[28:], bus)
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(buf)))
	return buf
}

// Samples of descriptors as three kinds of disk return them. The NVMe disk
// has no vendor string; the USB card reader pads its strings with spaces.
var descriptorSamples = map[string][]byte{
	"usb stick":   descriptor(7, true, "SanDisk ", "Cruzer Blade    ", "1.00", "4C530001230101113424"),
	"nvme":        descriptor(0x11, false, "", "Samsung SSD 970 EVO Plus 1TB", "2B2QEXM7", "0025_3852_1190_2F5A."),
	"usb hdd":     descriptor(7, false, "WD      ", "Elements 25A2   ", "1021", "575833314142383736353433"),
	"sata":        descriptor(0x0B, false, "", "ST1000LM035-1RK172", "SDM1", "            WL1234AB"),
	"card reader": descriptor(7, true, "Generic-", "SD/MMC          ", "1.00", ""),
}

func TestParseDeviceDescriptor(t *testing.T) {
	want := map[string]storage.DeviceDescriptor{
		"usb stick":   {BusType: 7, RemovableMedia: true, Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C530001230101113424"},
		"nvme":        {BusType: 0x11, Product: "Samsung SSD 970 EVO Plus 1TB", Serial: "0025_3852_1190_2F5A."},
		"usb hdd":     {BusType: 7, Vendor: "WD", Product: "Elements 25A2", Serial: "575833314142383736353433"},
		"sata":        {BusType: 0x0B, Product: "ST1000LM035-1RK172", Serial: "WL1234AB"},
		"card reader": {BusType: 7, RemovableMedia: true, Vendor: "Generic-", Product: "SD/MMC"},
	}
	for name, buf := range descriptorSamples {
		got, err := storage.ParseDeviceDescriptor(buf)
		if err != nil || got != want[name] {
			t.Errorf("%s: got %+v, %v\nwant %+v", name, got, err, want[name])
		}
	}
	buses := map[uint32]storage.Bus{0: storage.BusUnknown, 7: storage.BusUSB, 0x11: storage.BusNVMe, 0x0B: storage.BusSATA, 3: storage.BusSATA,
		0x0C: storage.BusMMC, 0x0E: storage.BusVirtual, 0x0F: storage.BusVirtual, 1: storage.BusOther, 0x10: storage.BusOther, 0xffff: storage.BusOther}
	for n, b := range buses {
		if got := storage.WinBus(n); got != b {
			t.Errorf("WinBus(%#x) = %q, want %q", n, got, b)
		}
	}
}

// Offsets and sizes from a driver are not trusted.
func TestParseDeviceDescriptorHostile(t *testing.T) {
	good := descriptorSamples["usb stick"]
	if _, err := storage.ParseDeviceDescriptor(good[:20]); err == nil {
		t.Error("a truncated descriptor parsed")
	}
	// Offsets past the end, into the fixed part, and a Size smaller than
	// the strings.
	bad := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(bad[12:], 0xFFFFFFF0)
	binary.LittleEndian.PutUint32(bad[16:], 8)
	d, err := storage.ParseDeviceDescriptor(bad)
	if err != nil || d.Vendor != "" || d.Product != "" || d.Serial != "4C530001230101113424" {
		t.Errorf("bad offsets: %+v, %v", d, err)
	}
	short := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(short[4:], 41)
	if d, err := storage.ParseDeviceDescriptor(short); err != nil || d.Serial != "" || d.Product != "" {
		t.Errorf("strings past Size were read: %+v, %v", d, err)
	}
	binary.LittleEndian.PutUint32(short[4:], 3)
	if _, err := storage.ParseDeviceDescriptor(short); err == nil {
		t.Error("a Size below the fixed part parsed")
	}
	// A serial with control characters and no NUL before the end.
	raw, _ := hex.DecodeString("28000000" + "00000000" + "00000100" + "00000000" + "00000000" + "00000000" + "24000000" + "07000000" + "00000000" + "41421b5b326a0a43")
	binary.LittleEndian.PutUint32(raw[4:], uint32(len(raw)))
	if d, err := storage.ParseDeviceDescriptor(raw); err != nil || d.Serial != "AB\uFFFD[2j\uFFFDC" {
		t.Errorf("unterminated serial: %+v, %v", d, err)
	}
}

func TestParseUSBInstanceID(t *testing.T) {
	tests := []struct {
		id   string
		want storage.USBInstance
		ok   bool
	}{
		{`USB\VID_0781&PID_5581\4C530001230101113424`, storage.USBInstance{VendorID: "0781", ProductID: "5581", Serial: "4C530001230101113424"}, true},
		{`usb\vid_090c&pid_1000\AA00000000000489`, storage.USBInstance{VendorID: "090c", ProductID: "1000", Serial: "AA00000000000489"}, true},
		{`USB\VID_0BDA&PID_0129\5&1A2B3C4D&0&3`, storage.USBInstance{VendorID: "0bda", ProductID: "0129"}, true},
		{`USB\VID_046D&PID_C52B&MI_00\7&2A1B3C4D&0&0000`, storage.USBInstance{VendorID: "046d", ProductID: "c52b", Interface: true}, true},
		{`USBSTOR\DISK&VEN_SANDISK&PROD_CRUZER_BLADE&REV_1.00\4C530001230101113424&0`, storage.USBInstance{}, false},
		{`USB\ROOT_HUB30\4&1B2C3D4E&0&0`, storage.USBInstance{}, false},
		{`USB\VID_07811&PID_5581\X`, storage.USBInstance{}, false},
		{`USB\VID_0781&PID_5581`, storage.USBInstance{}, false},
		{`USB\VID_0781&PID_5581\A\B`, storage.USBInstance{}, false},
		{`PCI\VEN_8086&DEV_A36D\3&11583659&0&A0`, storage.USBInstance{}, false},
		{``, storage.USBInstance{}, false},
	}
	for _, tt := range tests {
		got, ok := storage.ParseUSBInstanceID(tt.id)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestInterfaceInstanceID(t *testing.T) {
	tests := map[string]string{
		`\\?\usbstor#disk&ven_sandisk&prod_cruzer_blade&rev_1.00#4c530001230101113424&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}`: `usbstor\disk&ven_sandisk&prod_cruzer_blade&rev_1.00\4c530001230101113424&0`,
		`\\?\scsi#disk&ven_nvme&prod_samsung_ssd_970#4&2d8b8a1&0&000000#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}`:                 `scsi\disk&ven_nvme&prod_samsung_ssd_970\4&2d8b8a1&0&000000`,
		`\??\SCSI#Disk&Ven_WD&Prod_Elements#7&1b&0&000000#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}`:                               `SCSI\Disk&Ven_WD&Prod_Elements\7&1b&0&000000`,
		`\\?\usbstor#disk#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}`:                                                               "",
		`\\?\a##b#{x}`:       "",
		`usbstor#disk#x#{g}`: "",
		`\\?\#{g}`:           "",
	}
	for in, want := range tests {
		got, ok := storage.InterfaceInstanceID(in)
		if got != want || ok != (want != "") {
			t.Errorf("%q: got %q, %v; want %q", in, got, ok, want)
		}
	}
	for in, want := range map[string]byte{`E:\`: 'E', `e:\`: 'E', `Z:`: 'Z', `E:\x`: 0, `1:\`: 0, `\\.\E:`: 0, ``: 0, `EE:\`: 0} {
		if got := storage.DriveRoot(in); got != want {
			t.Errorf("DriveRoot(%q) = %q, want %q", in, got, want)
		}
	}
}

func clean(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// FuzzParseDeviceDescriptor feeds arbitrary buffers: the result must take
// the bus type from its place, and every string must be clean and bounded.
// A descriptor built from fuzzed strings must give them back, cleaned.
func FuzzParseDeviceDescriptor(f *testing.F) {
	for _, b := range descriptorSamples {
		f.Add(b, "", "", uint32(0))
	}
	f.Add([]byte{}, "Kingston", "DataTraveler 3.0", uint32(7))
	f.Add(make([]byte, 36), "\x00", "\xff\x01", uint32(0x11))
	f.Fuzz(func(t *testing.T, buf []byte, vendor, serial string, bus uint32) {
		if d, err := storage.ParseDeviceDescriptor(buf); err == nil {
			if d.BusType != binary.LittleEndian.Uint32(buf[28:]) {
				t.Fatalf("bus %d, buffer says %d", d.BusType, binary.LittleEndian.Uint32(buf[28:]))
			}
			if !clean(d.Vendor, storage.MaxTextLen) || !clean(d.Product, storage.MaxTextLen) || !clean(d.Serial, storage.MaxSerialLen) {
				t.Fatalf("unclean strings: %+q", []string{d.Vendor, d.Product, d.Serial})
			}
		}
		if strings.ContainsRune(vendor, 0) || strings.ContainsRune(serial, 0) {
			return
		}
		built := descriptor(bus, true, vendor, "Product", "1.0", serial)
		d, err := storage.ParseDeviceDescriptor(built)
		if err != nil {
			t.Fatal(err)
		}
		want := storage.DeviceDescriptor{BusType: bus, RemovableMedia: true, Vendor: storage.CleanText(vendor, storage.MaxTextLen),
			Product: "Product", Serial: storage.CleanText(serial, storage.MaxSerialLen)}
		if d != want {
			t.Fatalf("built from %q, %q: got %+v, want %+v", vendor, serial, d, want)
		}
	})
}

// FuzzParseUSBInstanceID checks that whatever parses has two well-formed
// ids and a clean serial, and that an id built from parts gives them back.
func FuzzParseUSBInstanceID(f *testing.F) {
	f.Add(`USB\VID_0781&PID_5581\4C530001230101113424`, uint16(0x0781), uint16(0x5581), "4C530001230101113424")
	f.Add(`USB\VID_046D&PID_C52B&MI_00\7&2A1B3C4D&0&0000`, uint16(0xABCD), uint16(1), "")
	f.Add(`USB\VID_&PID_\`, uint16(0), uint16(0xffff), "a&b")
	f.Fuzz(func(t *testing.T, id string, vid, pid uint16, serial string) {
		if u, ok := storage.ParseUSBInstanceID(id); ok {
			if !isHex4(u.VendorID) || !isHex4(u.ProductID) || !clean(u.Serial, storage.MaxSerialLen) || strings.Contains(u.Serial, "&") {
				t.Fatalf("%q gave %+v", id, u)
			}
		}
		if strings.ContainsAny(serial, `\`) {
			return
		}
		built := `USB\VID_` + strings.ToUpper(hex4(vid)) + "&PID_" + strings.ToUpper(hex4(pid)) + `\` + serial
		u, ok := storage.ParseUSBInstanceID(built)
		want := storage.USBInstance{VendorID: hex4(vid), ProductID: hex4(pid)}
		if !strings.Contains(serial, "&") {
			want.Serial = storage.CleanText(serial, storage.MaxSerialLen)
		}
		if !ok || u != want {
			t.Fatalf("%q gave %+v, %v; want %+v", built, u, ok, want)
		}
	})
}

// FuzzInterfaceInstanceID checks that an instance id taken from an
// interface path turns back into that path.
func FuzzInterfaceInstanceID(f *testing.F) {
	f.Add(`\\?\usbstor#disk&ven_sandisk&prod_cruzer_blade&rev_1.00#4c530001230101113424&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}`)
	f.Add(`\??\a#b#c#{}`)
	f.Fuzz(func(t *testing.T, path string) {
		id, ok := storage.InterfaceInstanceID(path)
		if !ok {
			return
		}
		if strings.Contains(id, "#") || strings.Count(id, `\`) < 2 || strings.Contains(id, `\\`) {
			t.Fatalf("%q gave %q", path, id)
		}
		i := strings.LastIndex(path, "#{")
		back := path[:4] + strings.ReplaceAll(id, `\`, "#") + path[i:]
		if back != path {
			t.Fatalf("%q gave %q, which turns back into %q", path, id, back)
		}
	})
}

func hex4(n uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[n>>12], digits[n>>8&15], digits[n>>4&15], digits[n&15]})
}

func isHex4(s string) bool {
	if len(s) != 4 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
