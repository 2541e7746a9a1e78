// Package units writes quantities for people to read: a count of bytes in
// binary units (512 B, 1.5 KiB, 3.0 GiB), the same way in the agent's
// commands and the server's console.
package units
