// Package installer holds what puts casekeep on a laptop and keeps it there:
// the folders each OS uses for the program, its configuration and its state
// ([Default]); the service definitions (the systemd unit from [SystemdUnit],
// the launchd daemon from [LaunchdPlist], and the Windows service's recovery
// actions in [Recovery]), which `casekeep service install` and the package
// builds both use, so a laptop gets the same service whichever way it was
// installed; the systemd drop-in with which the running agent makes the
// folders its policy needs in users' homes writable ([EnsureWritable]); and
// the enrollment file IT drops beside the program ([ReadEnrollEnv]), which
// lets a silent install enroll the device on the service's first start.
//
// The packages themselves (deb and rpm with nFPM, the MSI with wixl from
// casekeep.wxs, and the macOS payload for pkgbuild) are built by the program
// in installer/build. This package imports no service library: the wiring of
// kardianos/service stays in cmd/casekeep.
package installer
