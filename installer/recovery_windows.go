package installer

import (
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// SetRecovery sets Recovery on the installed Windows service name, and
// asks for it on non-crash failures too (kardianos/service sets neither).
func SetRecovery(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("opening service %s: %w", name, err)
	}
	defer s.Close()
	actions := make([]mgr.RecoveryAction, len(Recovery.Delays))
	for i, d := range Recovery.Delays {
		actions[i] = mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d}
	}
	if err := s.SetRecoveryActions(actions, uint32(Recovery.Reset.Seconds())); err != nil {
		return fmt.Errorf("setting the recovery actions of %s: %w", name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("setting the recovery actions of %s on non-crash failures: %w", name, err)
	}
	return nil
}

// ForgetServiceToken removes the enrollment token from the Windows
// service's command line (the MSI puts it there for the first start), once
// the device has enrolled: the service's configuration is readable by
// every user.
func ForgetServiceToken(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return err
	}
	defer s.Close()
	c, err := s.Config()
	if err != nil {
		return err
	}
	args, err := windows.DecomposeCommandLine(c.BinaryPathName)
	if err != nil {
		return err
	}
	kept := WithoutToken(args)
	if len(kept) == len(args) {
		return nil
	}
	c.BinaryPathName = windows.ComposeCommandLine(kept)
	return s.UpdateConfig(c)
}
