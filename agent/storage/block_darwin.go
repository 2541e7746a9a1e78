package storage

import (
	"context"
	"fmt"
)

// Block makes a volume read-only. On macOS it unmounts the volume
// (`diskutil unmount`) and mounts it again read-only (`diskutil mount
// readOnly`). If the unmount fails because files are open, the volume
// stays as it was and the error says so; if the read-only mount fails, the
// volume is left unmounted, which also keeps data off it. Only BSD device
// names such as "disk4s1" are accepted.
func (s *darwinSource) Block(ctx context.Context, v Volume) error {
	if !validDiskName(v.Device) {
		return fmt.Errorf("%w: %q is not a disk device", ErrBlockUnsupported, v.Device)
	}
	dev := "/dev/" + v.Device
	if _, err := runTool(ctx, diskutilPath, "unmount", dev); err != nil {
		return fmt.Errorf("storage: unmounting %s: %w", dev, err)
	}
	if _, err := runTool(ctx, diskutilPath, "mount", "readOnly", dev); err != nil {
		return fmt.Errorf("storage: %s is unmounted but could not be mounted read-only: %w", dev, err)
	}
	return nil
}
