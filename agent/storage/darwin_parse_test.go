package storage_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/storage"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDiskutilInfo(t *testing.T) {
	tests := map[string]storage.DiskInfo{
		"diskutil-usb-stick.plist": {Bus: storage.BusUSB, Removable: true, Label: "CASE FILES", Size: 30751588352,
			WholeDisk: "disk4", Filesystem: "msdos", Writable: true},
		"diskutil-apfs-internal.plist": {Bus: storage.BusOther, Label: "Macintosh HD", Size: 494384795648,
			WholeDisk: "disk3", Filesystem: "apfs"},
		"diskutil-sdcard.plist": {Bus: storage.BusMMC, Removable: true, Label: "Photos & Notes", Size: 63864569856,
			Model: "SD Card Reader", WholeDisk: "disk5", Filesystem: "exfat", Writable: true},
	}
	for name, want := range tests {
		got, err := storage.ParseDiskutilInfo(readTestdata(t, name))
		if err != nil || got != want {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", name, got, err, want)
		}
	}
	// An external disk that says nothing of removable media is removable;
	// a hostile whole-disk name is dropped.
	ext := plistDoc(`<dict><key>Internal</key><false/><key>BusProtocol</key><string>Thunderbolt</string>` +
		`<key>ParentWholeDisk</key><string>disk2; rm -rf /</string><key>VolumeName</key><string>Back` + "\u202e" + `up</string></dict>`)
	got, err := storage.ParseDiskutilInfo(ext)
	if err != nil || !got.Removable || got.Bus != storage.BusOther || got.WholeDisk != "" || got.Label != "Back\uFFFDup" {
		t.Errorf("external disk: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "<plist><array/></plist>", "not xml", "<plist><dict><key>a</key></dict></plist>"} {
		if _, err := storage.ParseDiskutilInfo([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseIoregUSB(t *testing.T) {
	data := readTestdata(t, "ioreg-usb.plist")
	u, model, ok := storage.ParseIoregUSB(data, "disk4")
	want := storage.USBInstance{VendorID: "0781", ProductID: "5581", Serial: "4C530001230101113424"}
	if !ok || u != want || model != "SanDisk Ultra" {
		t.Errorf("disk4: %+v %q %v", u, model, ok)
	}
	for _, disk := range []string{"disk4s1", "disk9", ""} {
		u, _, ok := storage.ParseIoregUSB(data, disk)
		if disk == "disk4s1" {
			// The slice is under the same stick.
			if !ok || u.VendorID != "0781" {
				t.Errorf("disk4s1: %+v %v", u, ok)
			}
			continue
		}
		if ok {
			t.Errorf("%q found %+v", disk, u)
		}
	}
	// A device whose ids are out of range is not a USB device.
	bad := plistDoc(`<array><dict><key>idVendor</key><integer>70000</integer><key>idProduct</key><integer>1</integer>` +
		`<key>IORegistryEntryChildren</key><array><dict><key>BSD Name</key><string>disk4</string></dict></array></dict></array>`)
	if u, _, ok := storage.ParseIoregUSB(bad, "disk4"); ok {
		t.Errorf("out of range id accepted: %+v", u)
	}
}

func TestValidDiskName(t *testing.T) {
	for _, s := range []string{"disk0", "disk4s1", "disk3s1s1", "disk12s10"} {
		if !storage.ValidDiskName(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "disk", "disks1", "disk4s", "disk4ss1", "-disk4", "disk4 ", "/dev/disk4", "disk4;x", "disk" + strings.Repeat("1", 40)} {
		if storage.ValidDiskName(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func plistDoc(body string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<plist version="1.0">` + body + `</plist>`)
}

func TestParsePlist(t *testing.T) {
	got, err := storage.ParsePlist(plistDoc(`<dict>
		<key>s</key><string>a &amp; b</string>
		<key>i</key><integer>-42</integer>
		<key>u</key><integer>18446744073709551615</integer>
		<key>r</key><real>1.5</real>
		<key>t</key><true/>
		<key>f</key><false/>
		<key>d</key><data>
			aGVs
			bG8=
		</data>
		<key>date</key><date>2024-03-01T10:00:00Z</date>
		<key>a</key><array><string>x</string><array/><dict/></array>
		<!-- a comment -->
	</dict>`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"s": "a & b", "i": int64(-42), "u": uint64(math.MaxUint64), "r": 1.5, "t": true, "f": false,
		"d": []byte("hello"), "date": time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC),
		"a": []any{"x", []any{}, map[string]any{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	bad := []string{
		`<dict><key>a</key><integer>1x</integer></dict>`,
		`<dict><key>a</key><integer>0x10</integer></dict>`,
		`<dict><key>a</key><integer>1_000</integer></dict>`,
		`<dict><string>a</string><string>b</string></dict>`,
		`<dict><key>a</key></dict>`,
		`<array><foo/></array>`,
		`<array>text</array>`,
		`<string>a<b/></string>`,
		`<true>x</true>`,
		`<data>!!</data>`,
		`<date>yesterday</date>`,
		`<array></dict>`,
		`<string>a</string><string>b</string>`,
		strings.Repeat("<array>", 100) + strings.Repeat("</array>", 100),
	}
	for _, b := range bad {
		if v, err := storage.ParsePlist(plistDoc(b)); err == nil {
			t.Errorf("%.60q parsed as %v", b, v)
		}
	}
	if _, err := storage.ParsePlist([]byte(`<notplist><string>a</string></notplist>`)); err == nil {
		t.Error("a root that is not plist parsed")
	}
	if _, err := storage.ParsePlist(bytes.Repeat([]byte(" "), 17<<20)); err == nil {
		t.Error("an oversized plist parsed")
	}
}

// encodePlist writes a parsed value back as a property list, with sorted
// keys, so that parse(encode(v)) can be compared with v.
func encodePlist(b *bytes.Buffer, v any) {
	esc := func(s string) string {
		var w bytes.Buffer
		for _, r := range s {
			switch r {
			case '&':
				w.WriteString("&amp;")
			case '<':
				w.WriteString("&lt;")
			case '>':
				w.WriteString("&gt;")
			case '\r':
				w.WriteString("&#xD;")
			default:
				w.WriteRune(r)
			}
		}
		return w.String()
	}
	switch t := v.(type) {
	case map[string]any:
		b.WriteString("<dict>")
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString("<key>" + esc(k) + "</key>")
			encodePlist(b, t[k])
		}
		b.WriteString("</dict>")
	case []any:
		b.WriteString("<array>")
		for _, e := range t {
			encodePlist(b, e)
		}
		b.WriteString("</array>")
	case string:
		b.WriteString("<string>" + esc(t) + "</string>")
	case int64, uint64:
		fmt.Fprintf(b, "<integer>%d</integer>", t)
	case float64:
		fmt.Fprintf(b, "<real>%v</real>", t)
	case bool:
		fmt.Fprintf(b, "<%v/>", t)
	case []byte:
		b.WriteString("<data>" + base64.StdEncoding.EncodeToString(t) + "</data>")
	case time.Time:
		b.WriteString("<date>" + t.Format(time.RFC3339Nano) + "</date>")
	default:
		panic(fmt.Sprintf("unexpected %T", v))
	}
}

func encoded(v any) []byte {
	var b bytes.Buffer
	b.WriteString("<plist>")
	encodePlist(&b, v)
	b.WriteString("</plist>")
	return b.Bytes()
}

// FuzzParsePlist checks that a parsed property list, written back and
// parsed again, is the same, and that the diskutil and ioreg readers give
// clean, bounded fields from whatever parses.
func FuzzParsePlist(f *testing.F) {
	for _, name := range []string{"diskutil-usb-stick.plist", "diskutil-apfs-internal.plist", "diskutil-sdcard.plist", "ioreg-usb.plist"} {
		f.Add(readTestdata(f, name))
	}
	f.Add(plistDoc(`<dict><key>a</key><real>NaN</real><key>b</key><data></data></dict>`))
	f.Add(plistDoc(`<array><date>2024-01-01T00:00:00+01:00</date><integer> 7 </integer></array>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := storage.ParsePlist(data)
		if err == nil {
			first := encoded(v)
			v2, err := storage.ParsePlist(first)
			if err != nil {
				t.Fatalf("re-encoded plist does not parse: %v\n%q", err, first)
			}
			if second := encoded(v2); !bytes.Equal(first, second) {
				t.Fatalf("round trip changed the value:\n%q\n%q", first, second)
			}
		}
		if d, err := storage.ParseDiskutilInfo(data); err == nil {
			if !clean(d.Label, storage.MaxTextLen) || !clean(d.Model, storage.MaxTextLen) || d.Size < 0 ||
				d.WholeDisk != "" && !storage.ValidDiskName(d.WholeDisk) {
				t.Fatalf("bad diskutil fields %+v", d)
			}
		}
		if u, model, ok := storage.ParseIoregUSB(data, "disk4"); ok {
			if !isHex4(u.VendorID) || !isHex4(u.ProductID) || !clean(u.Serial, storage.MaxSerialLen) || !clean(model, storage.MaxTextLen) {
				t.Fatalf("bad ioreg fields %+v %q", u, model)
			}
		}
	})
}
