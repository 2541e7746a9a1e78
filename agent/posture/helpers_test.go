package posture_test

import (
	"unicode"
	"unicode/utf8"
)

// printable reports whether s is valid UTF-8 with only printable runes.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}
