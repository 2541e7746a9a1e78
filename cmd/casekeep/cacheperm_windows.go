package main

import (
	"fmt"
	"io/fs"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Rights that let someone change what is in a folder: add a file (the
// same bit as FILE_WRITE_DATA), add a subfolder (FILE_APPEND_DATA), delete
// a child (0x40), or change the ACL or the owner.
const writeRights = windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | 0x40 |
	windows.WRITE_DAC | windows.WRITE_OWNER | windows.GENERIC_WRITE | windows.GENERIC_ALL

// cacheWritableByOthers says whether the cache folder's ACL lets everyone,
// all users or all authenticated users write it.
func cacheWritableByOthers(dir string, _ fs.FileInfo) string {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Sprintf("cannot read its ACL: %v", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return "it has no ACL: anyone can write it"
	}
	broad := []windows.WELL_KNOWN_SID_TYPE{windows.WinWorldSid, windows.WinBuiltinUsersSid, windows.WinAuthenticatedUserSid}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil || ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		if ace.Mask&writeRights == 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		for _, w := range broad {
			if sid.IsWellKnown(w) {
				return fmt.Sprintf("its ACL lets %s write it", sid.String())
			}
		}
	}
	return ""
}
