// Package present holds how the server shows values to people and reads
// what they type, the same way in the API, the console and the lost-device
// assessment: CSV cells a spreadsheet will not run as formulas, CSV
// downloads (Table, and TableOf a list) with safe file names, times
// written in RFC 3339 UTC, times read in the forms people type them, and
// numbers with their thousands marked (4,000).
package present
