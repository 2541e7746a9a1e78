package posture

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

const fdesetupPath = "/usr/bin/fdesetup"

// fileVault asks `fdesetup status`, whose fixed English text also tells
// of encryption in progress, and falls back to `fdesetup isactive`.
func fileVault(ctx context.Context, o Options) Check {
	out, code, err := run(ctx, o, fdesetupPath, "status")
	if err == nil && code == 0 {
		if res, ev, ok := parseFdesetupStatus(out); ok {
			return Check{Result: res, Evidence: ev}
		}
	}
	out, code, err = run(ctx, o, fdesetupPath, "isactive")
	if err != nil {
		return Check{Result: Unknown, Evidence: "could not run fdesetup: " + err.Error()}
	}
	res, ev := parseFdesetupIsActive(out, code)
	return Check{Result: res, Evidence: ev}
}

// parseFdesetupIsActive reads `fdesetup isactive`: exit code 0 and "true"
// mean FileVault is on, exit code 1 and "false" that it is off; anything
// else is unknown.
func parseFdesetupIsActive(out []byte, code int) (Result, string) {
	word := strings.TrimSpace(string(out))
	switch {
	case code == 0 && word == "true":
		return Pass, "FileVault is on (fdesetup isactive)"
	case code == 1 && word == "false":
		return Fail, "FileVault is off (fdesetup isactive)"
	}
	return Unknown, fmt.Sprintf("fdesetup isactive gave an unexpected answer (exit code %d, %q)", code, firstLine(word))
}

var percentRE = regexp.MustCompile(`Percent completed = ([0-9]{1,3}(?:\.[0-9]{1,3})?)`)

// parseFdesetupStatus reads `fdesetup status`: "FileVault is On." passes
// and "FileVault is Off." fails, but while encryption is in progress the
// disk is not yet fully encrypted (unknown), and while decryption is in
// progress it is being turned off (fail). ok is false for text it does not
// recognise.
func parseFdesetupStatus(out []byte) (res Result, ev string, ok bool) {
	text := string(out)
	var on, off bool
	for _, line := range strings.Split(text, "\n") {
		switch strings.TrimSpace(line) {
		case "FileVault is On.":
			on = true
		case "FileVault is Off.":
			off = true
		}
	}
	if on == off {
		return "", "", false
	}
	pct := ""
	if m := percentRE.FindStringSubmatch(text); m != nil {
		pct = " (" + m[1] + "% done)"
	}
	switch {
	case on && strings.Contains(text, "Encryption in progress"):
		return Unknown, "FileVault is being turned on: encryption in progress" + pct, true
	case on && strings.Contains(text, "Decryption in progress"):
		return Fail, "FileVault is being turned off: decryption in progress" + pct, true
	case on:
		return Pass, "FileVault is on (fdesetup status)", true
	case strings.Contains(text, "Decryption in progress"):
		return Fail, "FileVault is off: decryption in progress" + pct, true
	case strings.Contains(text, "Encryption in progress"):
		return Unknown, "FileVault is being turned on: encryption in progress" + pct, true
	case strings.Contains(text, "Deferred enablement"):
		return Fail, "FileVault is off; it is set to be turned on at the next login", true
	}
	return Fail, "FileVault is off (fdesetup status)", true
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 80 {
		line = line[:80]
	}
	return line
}
