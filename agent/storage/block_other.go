//go:build !linux && !windows && !darwin

package storage

import "context"

// Block returns [ErrBlockUnsupported] on systems other than Linux, Windows
// and macOS.
func (unsupportedSource) Block(context.Context, Volume) error { return ErrBlockUnsupported }
