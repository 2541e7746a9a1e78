//go:build !linux && !windows && !darwin

package storage

import "context"

// Block returns [ErrBlockUnsupported] on systems other than Linux, Windows
// and macOS.
func Block(ctx context.Context, v Volume) error { return ErrBlockUnsupported }
