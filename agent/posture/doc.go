// Package posture checks the state of the device that decides whether the
// case files on it are safe if it is lost: first of all, whether the disk
// holding the operating system (and so the agent's state, swap and any
// plaintext left behind) is encrypted.
//
// A check never fails with an error: it returns a [Check] whose Result is
// [Pass], [Fail] or [Unknown], and whose Evidence says in plain words what
// was seen, such as "root filesystem / (ext4) is on dm-1 (LVM vg-root) over
// dm-0, a LUKS2 dm-crypt mapping (luks-3f2a) of nvme0n1p3". Unknown means
// the check could not tell, and the evidence says why; it is never guessed
// to be a pass. Evidence is printable text of bounded length and never
// holds file contents.
//
// [DiskEncryption] looks at the filesystem mounted at "/" on Linux and
// follows its block device down through device-mapper and RAID layers
// (sysfs "slaves") looking for dm-crypt (LUKS1, LUKS2, plain, BitLocker,
// TrueCrypt and the other cryptsetup formats); every path down must reach
// one for a pass. A root on overlay, tmpfs, network or ZFS filesystems, a
// multi-device btrfs, or a loop device is unknown. On Windows it asks WMI
// for BitLocker's ProtectionStatus of the system drive through PowerShell
// (numbers, so the answer does not depend on the display language), and on
// macOS it asks fdesetup whether FileVault is on. Self-encrypting drives
// (Opal) are not recognised: they are reported as not encrypted. The paths
// it reads and the commands it runs are options, so the logic for every
// system is tested on every system.
package posture
