package agent

import "github.com/casekeep/casekeep/internal/wire"

// SetWipeHook sets the function a wipe calls after each of its steps, for
// the crash test's child; nil removes it.
func SetWipeHook(f func(step string)) { wipeHook = f }

// SetAckHook sets the function called before a command's acknowledgement
// is queued (an error fails the queueing); nil removes it.
func SetAckHook(f func(wire.CommandAck) error) { ackHook = f }
