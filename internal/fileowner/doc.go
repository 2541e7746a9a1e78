// Package fileowner answers the questions asked before a file or folder in
// a place users can write is trusted: who owns it, is that the system or
// the user running this program, may anyone else write it, and has it more
// than one name.
//
// It judges the file itself, never what a link leads to: on Unix it reads
// what os.Lstat returned (the owner's user ID, the mode, the link count); on
// Windows it reads the file's security descriptor (its owner's SID, its
// access list) through a handle opened on the name itself, a reparse point
// included. Which owners a caller accepts is the caller's decision: the
// installer, the state folder and the doctor each say theirs next to the
// folder they check.
package fileowner
