package vault

// SetTestHook sets the hook seal calls at its stages, for the tests in
// package vault_test; nil removes it.
func SetTestHook(f func(stage, rel string)) { testHook = f }
