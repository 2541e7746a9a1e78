//go:build !linux

package storage

import (
	"context"
	"fmt"
)

// Block returns [ErrBlockUnsupported]: a Linux source reads a mount table
// anywhere, but only Linux can remount one of its volumes read-only.
func (s *linuxSource) Block(ctx context.Context, v Volume) error {
	return fmt.Errorf("%w: remounting needs Linux", ErrBlockUnsupported)
}
