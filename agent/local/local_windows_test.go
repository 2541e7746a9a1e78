package local

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// A client of the pipe may not create its instances: FILE_APPEND_DATA is
// FILE_CREATE_PIPE_INSTANCE on a pipe.
func TestClientAccessCannotServe(t *testing.T) {
	if clientAccess&windows.FILE_APPEND_DATA != 0 || clientAccess&windows.GENERIC_WRITE != 0 || clientAccess&windows.GENERIC_ALL != 0 {
		t.Fatalf("client access %#x can create pipe instances", clientAccess)
	}
	sddl := pipeSDDL("S-1-5-21-1-2-3-1001")
	if !strings.HasPrefix(sddl, "D:P(A;;GA;;;SY)(A;;GA;;;S-1-5-21-1-2-3-1001)") || strings.Contains(sddl, ";;;WD)") || strings.Contains(sddl, "GA;;;IU") {
		t.Fatalf("security descriptor %s", sddl)
	}
	if _, err := windows.SecurityDescriptorFromString(sddl); err != nil {
		t.Fatal(err)
	}
}
