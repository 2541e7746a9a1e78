// Package check holds what both store backends do to values before they
// reach the database, so that the two keep exactly the same things: it
// refuses, with an error wrapping [store.ErrInvalid], strings that hold a NUL
// byte or invalid UTF-8 (PostgreSQL text can hold neither, so SQLite refuses
// them too), times outside the years 1 to 9999 and sequence numbers above
// 2^63-1 (both databases store signed 64-bit integers); and it brings every
// time to UTC at microsecond precision, the precision PostgreSQL keeps, by
// truncation, so a time reads back equal to what was stored after the same
// truncation.
package check
