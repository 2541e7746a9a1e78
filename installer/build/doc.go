// Command build builds casekeep's packages from this repository, on Linux:
//
//	go run ./installer/build [-version 1.2.3] [-out dist] [-arch amd64,arm64] [-only deb,rpm,msi,macos]
//
// It cross-compiles the agent and writes, in -out:
//
//   - casekeep_<version>_<arch>.deb and casekeep-<version>-1.<arch>.rpm (with
//     nFPM): the program in /usr/bin, the systemd unit, /etc/casekeep and
//     /var/lib/casekeep, and maintainer scripts that enable and start the
//     service, stop and disable it on removal, and keep the state on upgrade;
//   - casekeep-<version>-x64.msi (with Debian's wixl, package wixl, from
//     installer/casekeep.wxs);
//   - casekeep-<version>-macos-<arch>/ and its .tar.gz: the payload (the
//     program and the LaunchDaemon), the postinstall script, and the one
//     pkgbuild command to run on a Mac (in BUILD-PKG.txt).
package main
