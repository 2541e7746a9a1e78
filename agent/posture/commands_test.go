package posture_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/posture"
)

// reply is what a fake program answers.
type reply struct {
	out  string
	code int
	err  error
}

// fakeCommand answers by program and first argument, and records calls.
type fakeCommand struct {
	replies map[string]reply // key: base name + " " + first argument
	calls   []string
}

func (f *fakeCommand) run(ctx context.Context, name string, args ...string) ([]byte, int, error) {
	base := name[strings.LastIndexAny(name, `/\`)+1:]
	key := base
	if len(args) > 0 {
		key += " " + args[0]
	}
	f.calls = append(f.calls, name+" "+strings.Join(args, " "))
	r, ok := f.replies[key]
	if !ok {
		return nil, -1, errors.New("exec: " + base + ": not found")
	}
	return []byte(r.out), r.code, r.err
}

func windowsCheck(t *testing.T, out string, code int, err error) (posture.Check, *fakeCommand) {
	t.Helper()
	f := &fakeCommand{replies: map[string]reply{"powershell.exe -NoProfile": {out, code, err}}}
	c := posture.DiskEncryption(context.Background(), posture.Options{OS: "windows", Command: f.run, SystemDrive: "C:", SystemRoot: `C:\Windows`})
	return c, f
}

func TestDiskEncryptionWindows(t *testing.T) {
	tests := []struct {
		name string
		out  string
		code int
		err  error
		want posture.Result
		ev   string
	}{
		{"one volume on", `{"DriveLetter":"C:","ProtectionStatus":1,"ConversionStatus":1,"EncryptionMethod":6}`, 0, nil,
			posture.Pass, "BitLocker protection is on for the system drive C: (fully encrypted, XTS-AES-128)"},
		{"array, system drive off", "\ufeff" + `[{"DriveLetter":"D:","ProtectionStatus":1,"ConversionStatus":1,"EncryptionMethod":7},` +
			`{"DriveLetter":null,"ProtectionStatus":0,"ConversionStatus":0,"EncryptionMethod":0},` +
			`{"DriveLetter":"c:","ProtectionStatus":0,"ConversionStatus":0,"EncryptionMethod":0}]` + "\r\n", 0, nil,
			posture.Fail, "BitLocker protection is off for the system drive C: (fully decrypted, no encryption method)"},
		{"suspended protection fails", `{"DriveLetter":"C:","ProtectionStatus":0,"ConversionStatus":1,"EncryptionMethod":7}`, 0, nil,
			posture.Fail, "BitLocker protection is off for the system drive C: (fully encrypted, XTS-AES-256)"},
		{"locked volume", `{"DriveLetter":"C:","ProtectionStatus":2}`, 0, nil,
			posture.Unknown, "BitLocker protection status of the system drive C: is unknown (the volume may be locked)"},
		{"odd status", `{"DriveLetter":"C:","ProtectionStatus":9,"ConversionStatus":42}`, 0, nil,
			posture.Unknown, "BitLocker reported protection status 9 for the system drive C:, which this check does not know (conversion status 42)"},
		{"no status", `{"DriveLetter":"C:"}`, 0, nil,
			posture.Unknown, "BitLocker did not report the protection status of the system drive C:"},
		{"system drive missing", `[{"DriveLetter":"D:","ProtectionStatus":1},{"DriveLetter":"E:","ProtectionStatus":0}]`, 0, nil,
			posture.Unknown, "the system drive C: is not among the encryptable volumes WMI reported (2 volumes: D:, E:)"},
		{"no volumes", "", 0, nil,
			posture.Unknown, "WMI reported no encryptable volumes (BitLocker may be missing from this edition of Windows)"},
		{"not json", "Get-CimInstance : Invalid namespace", 0, nil, posture.Unknown, "~could not read WMI's answer"},
		{"status as text", `{"DriveLetter":"C:","ProtectionStatus":"On"}`, 0, nil, posture.Unknown, "~could not read WMI's answer"},
		{"status as fraction", `{"DriveLetter":"C:","ProtectionStatus":1.5}`, 0, nil, posture.Unknown, "~could not read WMI's answer"},
		{"powershell failed", "", 1, nil, posture.Unknown, "~PowerShell exit code 1"},
		{"powershell missing", "", -1, errors.New("exec: powershell.exe: file does not exist"), posture.Unknown, "~could not ask WMI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := windowsCheck(t, tt.out, tt.code, tt.err)
			if c.Result != tt.want || c.Name != posture.NameDiskEncryption {
				t.Errorf("got %+v, want %q", c, tt.want)
			}
			if part, ok := strings.CutPrefix(tt.ev, "~"); ok {
				if !strings.Contains(c.Evidence, part) {
					t.Errorf("evidence %q lacks %q", c.Evidence, part)
				}
			} else if c.Evidence != tt.ev {
				t.Errorf("evidence\n got %q\nwant %q", c.Evidence, tt.ev)
			}
			want := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -NoProfile -NonInteractive -Command Get-CimInstance -Namespace root/cimv2/security/microsoftvolumeencryption -ClassName Win32_EncryptableVolume | Select-Object DriveLetter,ProtectionStatus,ConversionStatus,EncryptionMethod | ConvertTo-Json -Compress`
			if len(f.calls) != 1 || f.calls[0] != want {
				t.Errorf("ran %q", f.calls)
			}
		})
	}
}

// The command is given a deadline and a hung one becomes unknown.
func TestDiskEncryptionTimeout(t *testing.T) {
	hang := func(ctx context.Context, name string, args ...string) ([]byte, int, error) {
		<-ctx.Done()
		return nil, -1, ctx.Err()
	}
	for _, os := range []string{"windows", "darwin"} {
		c := posture.DiskEncryption(context.Background(), posture.Options{OS: os, Command: hang, Timeout: 10 * time.Millisecond})
		if c.Result != posture.Unknown || !strings.Contains(c.Evidence, "deadline exceeded") {
			t.Errorf("%s: hung command gave %+v", os, c)
		}
	}
}

func TestDiskEncryptionMacOS(t *testing.T) {
	tests := []struct {
		name    string
		replies map[string]reply
		want    posture.Result
		ev      string
	}{
		{"on", map[string]reply{"fdesetup status": {"FileVault is On.\n", 0, nil}}, posture.Pass, "FileVault is on (fdesetup status)"},
		{"off", map[string]reply{"fdesetup status": {"FileVault is Off.\n", 0, nil}}, posture.Fail, "FileVault is off (fdesetup status)"},
		{"encrypting", map[string]reply{"fdesetup status": {"FileVault is On.\nEncryption in progress: Percent completed = 42.5\n", 0, nil}},
			posture.Unknown, "FileVault is being turned on: encryption in progress (42.5% done)"},
		{"decrypting", map[string]reply{"fdesetup status": {"FileVault is Off.\nDecryption in progress: Percent completed = 10\n", 0, nil}},
			posture.Fail, "FileVault is off: decryption in progress (10% done)"},
		{"deferred", map[string]reply{"fdesetup status": {"FileVault is Off.\nDeferred enablement appears to be active for user 'anna'.\n", 0, nil}},
			posture.Fail, "FileVault is off; it is set to be turned on at the next login"},
		{"status unreadable, isactive true", map[string]reply{
			"fdesetup status":   {"Error: something\n", 0, nil},
			"fdesetup isactive": {"true\n", 0, nil},
		}, posture.Pass, "FileVault is on (fdesetup isactive)"},
		{"status failed, isactive false", map[string]reply{
			"fdesetup status":   {"", 1, nil},
			"fdesetup isactive": {"false\n", 1, nil},
		}, posture.Fail, "FileVault is off (fdesetup isactive)"},
		{"isactive disagrees with its exit code", map[string]reply{"fdesetup isactive": {"true\n", 1, nil}},
			posture.Unknown, `fdesetup isactive gave an unexpected answer (exit code 1, "true")`},
		{"both lines", map[string]reply{"fdesetup status": {"FileVault is On.\nFileVault is Off.\n", 0, nil}, "fdesetup isactive": {"", 2, nil}},
			posture.Unknown, `fdesetup isactive gave an unexpected answer (exit code 2, "")`},
		{"no fdesetup", map[string]reply{}, posture.Unknown, "could not run fdesetup: exec: fdesetup: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeCommand{replies: tt.replies}
			c := posture.DiskEncryption(context.Background(), posture.Options{OS: "darwin", Command: f.run})
			if c.Result != tt.want || c.Evidence != tt.ev {
				t.Errorf("got %+v\nwant %q %q", c, tt.want, tt.ev)
			}
			for _, call := range f.calls {
				if !strings.HasPrefix(call, "/usr/bin/fdesetup ") {
					t.Errorf("ran %q, not /usr/bin/fdesetup", call)
				}
			}
		})
	}
}

func TestDiskEncryptionOtherOS(t *testing.T) {
	c := posture.DiskEncryption(context.Background(), posture.Options{OS: "plan9"})
	if c.Result != posture.Unknown || c.Evidence != "there is no disk encryption check for plan9" {
		t.Errorf("%+v", c)
	}
}

// A Command that panics does not take the agent down.
func TestDiskEncryptionSurvivesPanic(t *testing.T) {
	boom := func(ctx context.Context, name string, args ...string) ([]byte, int, error) { panic("boom") }
	c := posture.DiskEncryption(context.Background(), posture.Options{OS: "windows", Command: boom})
	if c.Result != posture.Unknown || !strings.Contains(c.Evidence, "boom") || c.Name != posture.NameDiskEncryption {
		t.Errorf("%+v", c)
	}
}

func checkShape(t *testing.T, c posture.Check) {
	t.Helper()
	switch c.Result {
	case posture.Pass, posture.Fail, posture.Unknown:
	default:
		t.Fatalf("result %q", c.Result)
	}
	if c.Name != posture.NameDiskEncryption || c.Evidence == "" || len(c.Evidence) > posture.MaxEvidence || !printable(c.Evidence) {
		t.Fatalf("bad check %+v", c)
	}
}

// FuzzBitLockerJSON feeds PowerShell's answer: whatever it is, the check
// is well formed and passes only for valid JSON. A volume list built from
// fuzzed values gives the result its ProtectionStatus says.
func FuzzBitLockerJSON(f *testing.F) {
	f.Add([]byte(`{"DriveLetter":"C:","ProtectionStatus":1,"ConversionStatus":1,"EncryptionMethod":6}`), byte('C'), 1, 1, 6, false)
	f.Add([]byte(`[{"DriveLetter":"D:","ProtectionStatus":1},{"DriveLetter":"C:","ProtectionStatus":0}]`), byte('D'), 0, 2, 7, true)
	f.Add([]byte("\ufeff[]"), byte('c'), 2, 0, 0, true)
	f.Add([]byte(`{"DriveLetter":"C:","ProtectionStatus":1e400}`), byte('Z'), -1, 99, -5, false)
	f.Fuzz(func(t *testing.T, out []byte, letter byte, status, conv, method int, array bool) {
		c, _ := windowsCheck(t, string(out), 0, nil)
		checkShape(t, c)
		if c.Result == posture.Pass && !json.Valid([]byte(strings.TrimPrefix(string(out), "\ufeff"))) {
			t.Fatalf("passed on invalid JSON %q", out)
		}

		drive := fmt.Sprintf("%c:", letter)
		vol := map[string]any{"DriveLetter": drive, "ProtectionStatus": status, "ConversionStatus": conv, "EncryptionMethod": method}
		var doc any = vol
		if array {
			doc = []any{map[string]any{"DriveLetter": nil, "ProtectionStatus": 1}, vol}
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		c, _ = windowsCheck(t, string(b), 0, nil)
		checkShape(t, c)
		want := posture.Unknown
		if strings.EqualFold(drive, "C:") {
			switch status {
			case 1:
				want = posture.Pass
			case 0:
				want = posture.Fail
			}
		}
		if c.Result != want {
			t.Fatalf("%s gave %+v, want %q", b, c, want)
		}
	})
}

// FuzzFdesetup feeds fdesetup's answers: the check is well formed, and it
// passes only when status printed the line "FileVault is On." or isactive
// answered "true" with exit code 0.
func FuzzFdesetup(f *testing.F) {
	f.Add("FileVault is On.\n", 0, "true\n", 0)
	f.Add("FileVault is Off.\nDecryption in progress: Percent completed = 99.9\n", 0, "false", 1)
	f.Add("FileVault is On.\nEncryption in progress: Percent completed = 1000000000000000\n", 0, "", 0)
	f.Add("garbage", 1, "true", 0)
	f.Fuzz(func(t *testing.T, status string, statusCode int, active string, activeCode int) {
		fc := &fakeCommand{replies: map[string]reply{
			"fdesetup status":   {status, statusCode, nil},
			"fdesetup isactive": {active, activeCode, nil},
		}}
		c := posture.DiskEncryption(context.Background(), posture.Options{OS: "darwin", Command: fc.run})
		checkShape(t, c)
		if c.Result != posture.Pass {
			return
		}
		statusOn := statusCode == 0 && strings.Contains(status, "FileVault is On.")
		activeOn := activeCode == 0 && strings.TrimSpace(active) == "true"
		if !statusOn && !activeOn {
			t.Fatalf("passed on status %q (%d), isactive %q (%d): %+v", status, statusCode, active, activeCode, c)
		}
	})
}
