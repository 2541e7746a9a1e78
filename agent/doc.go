// Package agent is the root of everything that runs on a laptop. Its
// subpackages each own one concern: the encrypted case-file cache (vault),
// recursive folder watching (watch), removable media and sync folders
// (storage), finding case files outside the vault (classify), posture checks
// (posture), the device's keys (keys) and heartbeats to the server (report).
// They take their dependencies (clock, filesystem root, state store, HTTP
// client) as arguments, so each can be tested against fakes; cmd/casekeep
// wires them together. This package itself holds no code yet.
package agent
