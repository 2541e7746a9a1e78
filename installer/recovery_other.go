//go:build !windows

package installer

// SetRecovery does nothing outside Windows: systemd's Restart=always and
// launchd's KeepAlive are in the service definitions themselves.
func SetRecovery(name string) error { return nil }

// ForgetServiceToken does nothing outside Windows: there the token is only
// ever in the enrollment file, which ForgetToken clears.
func ForgetServiceToken(name string) error { return nil }
