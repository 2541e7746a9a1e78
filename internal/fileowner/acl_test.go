package fileowner

import "testing"

// The decision on a Windows access list, which can be tested anywhere:
// only an allowing entry for a broad group with a right to change the file
// counts.
func TestACLWriters(t *testing.T) {
	const (
		readExecute = 0x1200a9 // FILE_GENERIC_READ | FILE_EXECUTE: list and read
		fullControl = 0x1f01ff
	)
	tests := []struct {
		entries []ace
		want    string
	}{
		{nil, ""},
		{[]ace{{fullControl, ""}, {readExecute, "Users"}}, ""},
		{[]ace{{readExecute, "Everyone"}, {fileWriteData, "Users"}}, "Users"},
		{[]ace{{fileAppendData, "Authenticated Users"}}, "Authenticated Users"},
		{[]ace{{fileDeleteChild, "Users"}}, "Users"},
		{[]ace{{writeDAC, "Everyone"}}, "Everyone"},
		{[]ace{{writeOwner, "Everyone"}}, "Everyone"},
		{[]ace{{genericWrite, "Users"}}, "Users"},
		{[]ace{{genericAll, "Everyone"}, {fullControl, "Users"}}, "Everyone"},
		{[]ace{{fullControl, "Users"}}, "Users"},
		// Reading attributes and synchronizing change nothing.
		{[]ace{{0x100080, "Everyone"}}, ""},
	}
	for _, tc := range tests {
		if got := aclWriters(tc.entries); got != tc.want {
			t.Errorf("aclWriters(%+v) = %q, want %q", tc.entries, got, tc.want)
		}
	}
}
