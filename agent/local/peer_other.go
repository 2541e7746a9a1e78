//go:build unix && !linux && !darwin

package local

import "errors"

// peerCred: this OS's peer credentials are not read yet, so no caller can
// be trusted and every connection is refused.
func peerCred(fd int) (Peer, error) {
	return Peer{}, errors.ErrUnsupported
}
