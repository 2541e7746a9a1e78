package storage

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// denyWriteKey is where the "Removable Disks: Deny write access" policy
// lives; the GUID is the one Group Policy uses for removable disks
// (GUID_DEVINTERFACE_VOLUME).
const denyWriteKey = `SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices\{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}`

// Block makes a volume read-only. On Windows it sets the machine policy
// "Removable Disks: Deny write access" (Deny_Write=1 under
// HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices\{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}).
// Beware: that policy applies to every removable disk, the approved ones
// too, until it is cleared; Windows has no per-device read-only switch
// short of a device-control product. It takes effect when a disk is next
// mounted, so Block then locks and dismounts the volume (FSCTL_LOCK_VOLUME,
// FSCTL_DISMOUNT_VOLUME) so that Windows mounts it afresh on next access.
// (Whether a fresh mount of a device that stays plugged in picks up the
// policy, or only a device plugged in again, has not been tested on a real
// machine.) If the volume cannot be locked because files on
// it are open, Block leaves it mounted, never forcing a dismount that
// would lose the user's work, and returns [ErrBlockDeferred]: the policy
// is set, and the volume becomes read-only when it is next plugged in.
// Only drive roots such as `E:\` on drives that are not fixed disks or
// that are on USB can be blocked; anything else is
// [ErrBlockUnsupported]. Group Policy may overwrite the value on its next
// refresh if a domain policy sets it otherwise.
func (s *windowsSource) Block(ctx context.Context, v Volume) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	letter := driveRoot(v.MountPoint)
	if letter == 0 || !v.Removable && v.Bus != BusUSB {
		return fmt.Errorf("%w: %q is not a removable drive root", ErrBlockUnsupported, v.MountPoint)
	}
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, denyWriteKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("storage: setting the deny-write policy: %w", err)
	}
	err = k.SetDWordValue("Deny_Write", 1)
	k.Close()
	if err != nil {
		return fmt.Errorf("storage: setting the deny-write policy: %w", err)
	}
	h, err := openDrive(letter, windows.GENERIC_READ|windows.GENERIC_WRITE)
	if err != nil {
		return fmt.Errorf("%w: opening %c: to dismount it: %v", ErrBlockDeferred, letter, err)
	}
	defer windows.CloseHandle(h) // closing also releases the lock
	var n uint32
	if err := windows.DeviceIoControl(h, fsctlLockVolume, nil, 0, nil, 0, &n, nil); err != nil {
		return fmt.Errorf("%w: %c: is in use: %v", ErrBlockDeferred, letter, err)
	}
	if err := windows.DeviceIoControl(h, fsctlDismountVolume, nil, 0, nil, 0, &n, nil); err != nil {
		return fmt.Errorf("%w: dismounting %c:: %v", ErrBlockDeferred, letter, err)
	}
	return nil
}
