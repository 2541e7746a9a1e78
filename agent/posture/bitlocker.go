package posture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// bitLockerScript asks WMI for the encryptable volumes as JSON numbers,
// which do not depend on the display language as manage-bde's text does.
const bitLockerScript = "Get-CimInstance -Namespace root/cimv2/security/microsoftvolumeencryption -ClassName Win32_EncryptableVolume" +
	" | Select-Object DriveLetter,ProtectionStatus,ConversionStatus,EncryptionMethod | ConvertTo-Json -Compress"

func bitLocker(ctx context.Context, o Options) Check {
	// By absolute path, so that PATH cannot change the program.
	ps := strings.TrimRight(o.SystemRoot, `\`) + `\System32\WindowsPowerShell\v1.0\powershell.exe`
	out, code, err := run(ctx, o, ps, "-NoProfile", "-NonInteractive", "-Command", bitLockerScript)
	if err != nil {
		return Check{Result: Unknown, Evidence: "could not ask WMI for BitLocker's state: " + err.Error()}
	}
	if code != 0 {
		return Check{Result: Unknown, Evidence: fmt.Sprintf("asking WMI for BitLocker's state failed (PowerShell exit code %d; BitLocker may be missing from this edition of Windows, or the agent lacks rights)", code)}
	}
	res, ev := parseBitLocker(out, o.SystemDrive)
	return Check{Result: res, Evidence: ev}
}

// encryptableVolume is one Win32_EncryptableVolume as ConvertTo-Json
// writes it.
type encryptableVolume struct {
	DriveLetter      *string
	ProtectionStatus *int
	ConversionStatus *int
	EncryptionMethod *int
}

var conversionWords = map[int]string{
	0: "fully decrypted",
	1: "fully encrypted",
	2: "encryption in progress",
	3: "decryption in progress",
	4: "encryption paused",
	5: "decryption paused",
}

var methodWords = map[int]string{
	0: "no encryption method",
	1: "AES-128 with diffuser",
	2: "AES-256 with diffuser",
	3: "AES-128",
	4: "AES-256",
	5: "hardware encryption",
	6: "XTS-AES-128",
	7: "XTS-AES-256",
}

// parseBitLocker reads the JSON (one object, or an array of them) and
// decides for the system drive: ProtectionStatus 1 is a pass, 0 a fail,
// and 2 (or anything else, or the drive missing) unknown.
func parseBitLocker(out []byte, drive string) (Result, string) {
	out = bytes.TrimSpace(bytes.TrimPrefix(out, []byte("\xef\xbb\xbf")))
	if len(out) == 0 {
		return Unknown, "WMI reported no encryptable volumes (BitLocker may be missing from this edition of Windows)"
	}
	if len(out) > maxOutput {
		return Unknown, "WMI's answer about BitLocker was too long to read"
	}
	var vols []encryptableVolume
	var err error
	if out[0] == '[' {
		err = json.Unmarshal(out, &vols)
	} else {
		var v encryptableVolume
		err = json.Unmarshal(out, &v)
		vols = []encryptableVolume{v}
	}
	if err != nil {
		return Unknown, "could not read WMI's answer about BitLocker: " + err.Error()
	}
	drive = strings.ToUpper(strings.TrimRight(strings.TrimSpace(drive), `\`))
	var letters []string
	for _, v := range vols {
		if v.DriveLetter == nil {
			continue
		}
		letters = append(letters, *v.DriveLetter)
		if !strings.EqualFold(strings.TrimSpace(*v.DriveLetter), drive) {
			continue
		}
		detail := describeVolume(v)
		if v.ProtectionStatus == nil {
			return Unknown, fmt.Sprintf("BitLocker did not report the protection status of the system drive %s%s", drive, detail)
		}
		switch *v.ProtectionStatus {
		case 1:
			return Pass, fmt.Sprintf("BitLocker protection is on for the system drive %s%s", drive, detail)
		case 0:
			return Fail, fmt.Sprintf("BitLocker protection is off for the system drive %s%s", drive, detail)
		case 2:
			return Unknown, fmt.Sprintf("BitLocker protection status of the system drive %s is unknown (the volume may be locked)%s", drive, detail)
		}
		return Unknown, fmt.Sprintf("BitLocker reported protection status %d for the system drive %s, which this check does not know%s", *v.ProtectionStatus, drive, detail)
	}
	return Unknown, fmt.Sprintf("the system drive %s is not among the encryptable volumes WMI reported (%d volumes: %s)",
		drive, len(vols), strings.Join(letters, ", "))
}

func describeVolume(v encryptableVolume) string {
	var words []string
	if v.ConversionStatus != nil {
		if w, ok := conversionWords[*v.ConversionStatus]; ok {
			words = append(words, w)
		} else {
			words = append(words, fmt.Sprintf("conversion status %d", *v.ConversionStatus))
		}
	}
	if v.EncryptionMethod != nil {
		if w, ok := methodWords[*v.EncryptionMethod]; ok {
			words = append(words, w)
		} else {
			words = append(words, fmt.Sprintf("encryption method %d", *v.EncryptionMethod))
		}
	}
	if len(words) == 0 {
		return ""
	}
	return " (" + strings.Join(words, ", ") + ")"
}
