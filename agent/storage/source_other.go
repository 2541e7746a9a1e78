//go:build !linux && !windows && !darwin

package storage

import "context"

// OSSource returns this operating system's [Source]; on systems other than
// Linux, Windows and macOS it lists nothing and returns [ErrUnsupported].
func OSSource() Source { return unsupportedSource{} }

type unsupportedSource struct{}

func (unsupportedSource) Volumes(context.Context) ([]Volume, error) { return nil, ErrUnsupported }
