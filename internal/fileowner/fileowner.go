package fileowner

import (
	"errors"
	"io/fs"
	"os"
)

// ErrNoOwner is returned by [Of] when the file's owner cannot be read from
// what was given: a FileInfo of no file system on Unix, a security
// descriptor without an owner on Windows.
var ErrNoOwner = errors.New("fileowner: the file has no owner that can be read")

// Owner is the user who owns a file: a user ID on Unix, a security
// identifier (SID) on Windows. The zero Owner is no one: it is not the
// system, not known, and equal to no Owner.
type Owner struct {
	id ownerID
	ok bool
}

// Of returns the owner of the file at path, which fi (from os.Lstat of
// path) describes. On Unix only fi is read; on Windows the security
// descriptor of path itself, without following a link at path.
func Of(path string, fi fs.FileInfo) (Owner, error) { return of(path, fi) }

// Current returns the user this process runs as: its effective user ID on
// Unix, its token's user on Windows.
func Current() (Owner, error) { return current() }

// String names o: "uid 1000" on Unix, a SID such as "S-1-5-18" on Windows.
func (o Owner) String() string {
	if !o.ok {
		return "no owner"
	}
	return o.id.String()
}

// IsSystem reports whether o is the system, which no user can act as: root
// on Unix; SYSTEM or the Administrators group on Windows.
func (o Owner) IsSystem() bool { return o.ok && o.id.isSystem() }

// Equal reports whether o and p are the same user.
func (o Owner) Equal(p Owner) bool { return o.ok && p.ok && o.id.equal(p.id) }

// Known reports whether o is an account of this computer: a user in its
// user database on Unix, a SID it can name on Windows. A file whose owner
// is not known belongs to whoever is next given that ID.
func (o Owner) Known() bool { return o.ok && o.id.known() }

// SameOwner reports whether the files a and b, not followed if they are
// links, belong to the same user; false if either cannot be read.
func SameOwner(a, b string) bool {
	oa, err := lstat(a)
	if err != nil {
		return false
	}
	ob, err := lstat(b)
	return err == nil && oa.Equal(ob)
}

func lstat(path string) (Owner, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Owner{}, err
	}
	return of(path, fi)
}

// WritableByOthers says who other than its owner and the system may write
// the file or folder at path, which fi (from os.Lstat of path) describes,
// or "" if no one. On Unix that is the mode's write permission for others
// ("anyone") or the group ("its group"): a sticky folder that others may
// write is writable by them, since they can add files to it. On Windows it
// is an entry of the access list that lets Everyone, Users or
// Authenticated Users add, delete or change something, or change the list
// or the owner (the group's name), or no access list at all ("anyone");
// the error says why the list could not be read.
//
// A link is judged as itself, not what it leads to; on Linux its mode is
// always 0777, so callers that want a folder check that first.
func WritableByOthers(path string, fi fs.FileInfo) (string, error) {
	return writableByOthers(path, fi)
}

// Links returns the number of hard links to the file fi (from os.Lstat)
// describes: more than one means the file has another name, perhaps in a
// folder someone else can write. It is 1 where fi does not say, as on
// Windows, where the count needs an open handle.
func Links(fi fs.FileInfo) uint64 { return links(fi) }

// modeWriters says who other than the owner a Unix mode lets write.
func modeWriters(m fs.FileMode) string {
	switch {
	case m&0o002 != 0:
		return "anyone"
	case m&0o020 != 0:
		return "its group"
	}
	return ""
}

// An ace is what aclWriters needs of an entry allowing access in a
// Windows access list: its rights, and the name of the broad group it
// allows ("" if it is for anyone else).
type ace struct {
	mask  uint32
	group string
}

// Rights that let someone change a file or folder: write data or add a
// file (FILE_WRITE_DATA), append or add a subfolder (FILE_APPEND_DATA),
// delete a child (FILE_DELETE_CHILD), change the access list or the owner
// (WRITE_DAC, WRITE_OWNER), and the generic write and all.
const (
	fileWriteData   = 0x2
	fileAppendData  = 0x4
	fileDeleteChild = 0x40
	writeDAC        = 0x40000
	writeOwner      = 0x80000
	genericAll      = 0x10000000
	genericWrite    = 0x40000000

	writeRights = fileWriteData | fileAppendData | fileDeleteChild | writeDAC | writeOwner | genericAll | genericWrite
)

// aclWriters returns the first broad group the allowing entries let change
// a file, or "".
func aclWriters(entries []ace) string {
	for _, e := range entries {
		if e.group != "" && e.mask&writeRights != 0 {
			return e.group
		}
	}
	return ""
}
