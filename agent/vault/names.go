package vault

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// SealedExt is the extension of a sealed file.
const SealedExt = ".age"

// asidePrefix starts the name of the private folder a plaintext file is
// moved into between being sealed and being removed. The file keeps its own
// name there, so a scan after a crash knows what it was.
const asidePrefix = ".casekeep-aside-"

// maxName is the longest file name most filesystems allow, in bytes.
const maxName = 255

// Ignored reports whether a path (slash-separated, relative to the cache)
// names one of the vault's own files, which watch hints can skip: sealed
// output, temporary files and set-aside plaintext. The scan still looks at
// all of them.
func Ignored(rel string) bool {
	base := path.Base(rel)
	return inAside(rel) || strings.HasSuffix(base, SealedExt) || isTemp(base)
}

// inAside reports whether rel is or is inside a set-aside folder.
func inAside(rel string) bool {
	return strings.HasPrefix(rel, asidePrefix) || strings.Contains(rel, "/"+asidePrefix)
}

func isTemp(base string) bool {
	return strings.HasPrefix(base, ".") && strings.HasSuffix(base, atomicfile.TempSuffix)
}

func isAsideDir(base string) bool { return strings.HasPrefix(base, asidePrefix) }

// skipped reports whether a regular file is left alone although it is not
// sealed: small editor lock files and folder metadata that hold no case
// data, which editors and file managers need to find as they left them.
func skipped(base string, size int64) bool {
	switch {
	case base == ".DS_Store" || strings.EqualFold(base, "desktop.ini"):
		return true
	case strings.HasPrefix(base, ".~lock.") && strings.HasSuffix(base, "#"): // LibreOffice
		return size <= 4096
	case strings.HasPrefix(base, "~$"): // Microsoft Office owner files
		return size <= 4096
	}
	return false
}

// tempName is a short temporary name (it fits however long the name being
// sealed is) that the vault can prove it made: ".RANDOM.TAG.casekeep-tmp",
// TAG a MAC of RANDOM under key, the vault's secret (tempKey). Someone who
// can write the cache but not read the state folder cannot make one.
func tempName(random string, key []byte) string {
	return "." + random + "." + tempTag(random, key) + atomicfile.TempSuffix
}

func tempTag(random string, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("casekeep vault temporary file\x00" + random))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// ownTemp reports whether base is a temporary name tempName made with key:
// only such a file is ever removed as the vault's leftover.
func ownTemp(base string, key []byte) bool {
	if len(key) == 0 || !isTemp(base) {
		return false
	}
	random, tag, ok := strings.Cut(strings.TrimSuffix(base[1:], atomicfile.TempSuffix), ".")
	if !ok || random == "" {
		return false
	}
	return hmac.Equal([]byte(tag), []byte(tempTag(random, key)))
}

// sealedName returns the n-th candidate name for sealing base: "a.docx.age",
// then "a (2).docx.age", "a (3).docx.age", and so on, with the stem
// shortened if the name would be too long.
func sealedName(base string, n int) string {
	return numbered(base, "", n, SealedExt)
}

// restoredName returns the n-th candidate name for putting a set-aside
// plaintext back when its original name has been taken meanwhile.
func restoredName(base string, n int) string {
	return numbered(base, "unsealed ", n, "")
}

func numbered(base, label string, n int, suffix string) string {
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if stem == "" { // ".bashrc"
		stem, ext = base, ""
	}
	mark := ""
	if n > 1 {
		mark = " (" + label + strconv.Itoa(n) + ")"
	}
	if len(ext) > 32 { // an "extension" this long is part of the name
		stem, ext = base, ""
	}
	room := maxName - len(mark) - len(ext) - len(suffix)
	if len(stem) > room {
		stem = cut(stem, room)
		if mark == "" {
			// A shortened name needs a number to stay distinct.
			mark = " (" + label + "1)"
			stem = cut(stem, room-len(mark))
		}
	}
	return stem + mark + ext + suffix
}

// cut shortens s to at most n bytes, not splitting a UTF-8 character if s
// is UTF-8.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	valid := utf8.ValidString(s)
	s = s[:n]
	for valid && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
