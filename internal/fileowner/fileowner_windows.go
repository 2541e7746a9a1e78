package fileowner

import (
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// ownerID is a security identifier.
type ownerID struct{ sid *windows.SID }

// The rights fileowner.go names by number are Windows's: each constant is
// the difference of two uints, which does not compile unless it is 0.
const (
	_ uint32 = writeRights - (windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | 0x40 | windows.WRITE_DAC |
		windows.WRITE_OWNER | windows.GENERIC_ALL | windows.GENERIC_WRITE)
	_ uint32 = (windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | 0x40 | windows.WRITE_DAC |
		windows.WRITE_OWNER | windows.GENERIC_ALL | windows.GENERIC_WRITE) - writeRights
)

// securityInfo reads what si asks of the security descriptor of path
// itself: the open does not follow a reparse point, and opens folders too.
func securityInfo(path string, si windows.SECURITY_INFORMATION) (*windows.SECURITY_DESCRIPTOR, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.READ_CONTROL,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, si)
	if err != nil {
		return nil, fmt.Errorf("%s: reading its security descriptor: %w", path, err)
	}
	return sd, nil
}

func of(path string, _ fs.FileInfo) (Owner, error) {
	sd, err := securityInfo(path, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return Owner{}, err
	}
	if sd == nil {
		return Owner{}, ErrNoOwner
	}
	sid, _, err := sd.Owner()
	if err != nil || sid == nil {
		return Owner{}, ErrNoOwner
	}
	c, err := sid.Copy()
	if err != nil {
		return Owner{}, err
	}
	return Owner{ownerID{c}, true}, nil
}

func current() (Owner, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return Owner{}, fmt.Errorf("reading the process user: %w", err)
	}
	c, err := tu.User.Sid.Copy()
	if err != nil {
		return Owner{}, err
	}
	return Owner{ownerID{c}, true}, nil
}

func (id ownerID) String() string { return id.sid.String() }

func (id ownerID) isSystem() bool {
	return id.sid.IsWellKnown(windows.WinLocalSystemSid) || id.sid.IsWellKnown(windows.WinBuiltinAdministratorsSid)
}

func (id ownerID) equal(other ownerID) bool { return id.sid.Equals(other.sid) }

func (id ownerID) known() bool {
	_, _, _, err := id.sid.LookupAccount("")
	return err == nil
}

// broadGroups are the groups every user of the computer is in.
var broadGroups = []struct {
	sid  windows.WELL_KNOWN_SID_TYPE
	name string
}{
	{windows.WinWorldSid, "Everyone"},
	{windows.WinBuiltinUsersSid, "Users"},
	{windows.WinAuthenticatedUserSid, "Authenticated Users"},
}

func writableByOthers(path string, _ fs.FileInfo) (string, error) {
	sd, err := securityInfo(path, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", err
	}
	if sd == nil {
		return "anyone", nil
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return "anyone", nil // no access list: no access is checked
	}
	var entries []ace
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var a *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &a); err != nil || a.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		e := ace{mask: uint32(a.Mask)}
		sid := (*windows.SID)(unsafe.Pointer(&a.SidStart))
		for _, g := range broadGroups {
			if sid.IsWellKnown(g.sid) {
				e.group = g.name
			}
		}
		entries = append(entries, e)
	}
	return aclWriters(entries), nil
}

func links(fs.FileInfo) uint64 { return 1 }
