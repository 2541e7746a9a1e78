package agent

// SetWipeHook sets the function a wipe calls after each of its steps, for
// the crash test's child; nil removes it.
func SetWipeHook(f func(step string)) { wipeHook = f }
