// Package printable makes untrusted text safe to show: a volume label, a
// device serial, a cloud account's name, a file name in a notification, a
// field of a heartbeat that the console and terminals will display.
//
// [Text] keeps letters, marks, numbers, punctuation, symbols and the ASCII
// space, and replaces everything else: invalid UTF-8, control characters
// (escape sequences start with one), format characters (the bidirectional
// overrides and isolates U+202A to U+202E and U+2066 to U+2069, zero-width
// spaces and joiners, tags), invisible fillers, other white space, line and
// paragraph separators, private-use and unassigned code points. What takes
// their place, whether surrounding white space is trimmed, and how long the
// result may be, in bytes or characters, are its [Options]; each caller
// keeps the few it needs in one place, next to the field it cleans.
//
// Text never splits a character, and its result is always valid UTF-8,
// within the limits, and unchanged when cleaned again with the same options.
package printable
