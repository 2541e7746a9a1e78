//go:build !linux

package storage

import "context"

// notify is Linux-only: elsewhere a Linux source reads a fake tree and
// changes are seen by polling.
func (s *linuxSource) notify(ctx context.Context) (<-chan struct{}, error) {
	return nil, ErrUnsupported
}
