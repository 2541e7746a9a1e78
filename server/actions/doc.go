// Package actions is the one home of what people do to casekeep-server:
// mark a device lost or found, lock, unlock or wipe it (commands its agent
// is sent; a lock or unlock expires after CommandExpiry, a wipe never),
// cancel a command not yet
// delivered, rotate its lease key, record a notification decision, add
// a person, make and revoke their API tokens, view a lost-device
// assessment, sign in to and out of the console. The API, the console and
// the casekeep-server command line only read their input and show the
// result; each action here checks that input, does the work in the store
// and appends its entry to the audit log, so the rules are the same
// whichever way a person comes in.
//
// Each action takes who does it (a person's name, or [CommandLine]) and
// returns, for input it refuses, a [*FieldError] naming the field and the
// problem; it matches [ErrInvalid] and the kind of problem ([ErrRequired],
// [ErrTooLong], ...) with errors.Is. Text is trimmed, must be text (no
// control characters) and has a length limit. Store errors pass through:
// store.ErrNotFound for an unknown device, person or token, store.ErrExists
// for a name taken. The names actions have in the audit log ([AuditMarkLost]
// and the rest) are constants here. Who may do what is decided by the front
// ends, with package access.
//
// An action is written to the store before its audit entry; if the audit
// log cannot be written the action stands and the error is returned.
package actions
