// Package installer will hold what puts casekeep on a laptop: service
// definitions for Windows, systemd and launchd, the paths each OS uses for the
// program, its configuration and its state, and the builds of the packages IT
// deploys (deb and rpm with nFPM, MSI with wixl, and a macOS payload for
// pkgbuild). It holds no code yet; the agent runs in the foreground until it
// lands.
package installer
