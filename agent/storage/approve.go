package storage

import (
	"strings"
	"unicode/utf8"

	"github.com/casekeep/casekeep/policy"
)

// Approved reports whether an allow-list approves a volume, and the first
// entry that does. An entry approves a volume when its VendorID equals the
// volume's, its ProductID pattern matches the volume's product id, and its
// Serial pattern matches the volume's serial. Patterns use "*" for any run
// of characters (including none) and "?" for any one character; every other
// character, "[" and "\" included, stands for itself. Hex ids and serials
// are compared without regard to case (Windows reports serials in upper
// case, Linux as the device sends them). A volume whose vendor id is not
// known is never approved, and an entry with an empty field approves
// nothing; "*" matches an unknown (empty) product id or serial.
func Approved(v Volume, allow []policy.Device) (policy.Device, bool) {
	vid := hexID(v.VendorID)
	if vid == "" {
		return policy.Device{}, false
	}
	pid := strings.ToLower(v.ProductID)
	serial := strings.ToLower(v.Serial)
	for _, d := range allow {
		if d.ProductID == "" || d.Serial == "" {
			continue
		}
		if hexID(d.VendorID) != vid {
			continue
		}
		if !match(strings.ToLower(d.ProductID), pid) || !match(strings.ToLower(d.Serial), serial) {
			continue
		}
		return d, true
	}
	return policy.Device{}, false
}

// match reports whether s matches pattern, where "*" matches any run of
// characters (including none), "?" matches exactly one character, and every
// other character matches itself. It is case-sensitive; lower both sides
// for a match that is not. It runs in time proportional to
// len(pattern)*len(s) at worst.
func match(pattern, s string) bool {
	// The classic greedy algorithm with one backtrack point: on a mismatch
	// the last "*" absorbs one more character.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch pc := pattern[p]; pc {
			case '*':
				star, mark = p, i
				p++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[i:])
				p++
				i += n
				continue
			default:
				pr, pn := utf8.DecodeRuneInString(pattern[p:])
				sr, sn := utf8.DecodeRuneInString(s[i:])
				if pr == sr && pn == sn && pattern[p:p+pn] == s[i:i+sn] {
					p += pn
					i += sn
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		// Let the last star absorb one more character of s.
		_, n := utf8.DecodeRuneInString(s[mark:])
		mark += n
		p, i = star+1, mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
