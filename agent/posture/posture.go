package posture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/casekeep/casekeep/agent/storage"
)

// Result is the outcome of a check.
type Result string

// Results.
const (
	Pass    Result = "pass"    // the device is as it should be
	Fail    Result = "fail"    // it is not
	Unknown Result = "unknown" // the check could not tell; Evidence says why
)

// NameDiskEncryption is the Name of the [DiskEncryption] check.
const NameDiskEncryption = "disk_encryption"

// MaxEvidence is the most bytes of evidence a check gives.
const MaxEvidence = 512

// Check is the outcome of one check.
type Check struct {
	Name     string // such as "disk_encryption"
	Result   Result
	Evidence string // what was seen, in plain words; printable, at most MaxEvidence bytes
}

// Command runs a program and returns its standard output and exit code; err
// is for a program that could not be run or did not finish (not found,
// timed out), not for a non-zero exit code.
type Command func(ctx context.Context, name string, args ...string) (stdout []byte, exitCode int, err error)

// Options configure the checks. Zero values take the defaults.
type Options struct {
	// OS says which system's check to run: "linux", "windows" or
	// "darwin" (default runtime.GOOS). Tests set it, with Command and the
	// paths below, to run another system's logic on fakes.
	OS string
	// MountInfo is the Linux mount table (default "/proc/self/mountinfo").
	MountInfo string
	// SysRoot is where Linux's sysfs is mounted (default "/sys").
	SysRoot string
	// Swaps is Linux's list of swap areas (default "/proc/swaps" when
	// MountInfo is the default, else none: a fake tree has no swap).
	Swaps string
	// Command runs the programs the Windows and macOS checks ask
	// (default: run them, by absolute path).
	Command Command
	// Timeout bounds each program run (default 60s; PowerShell's first
	// WMI query can take many seconds).
	Timeout time.Duration
	// SystemDrive is the Windows system drive, such as "C:" (default
	// %SystemDrive%, else "C:").
	SystemDrive string
	// SystemRoot is the Windows folder, where PowerShell is found
	// (default %SystemRoot%, else `C:\Windows`).
	SystemRoot string
}

func (o Options) withDefaults() Options {
	if o.OS == "" {
		o.OS = runtime.GOOS
	}
	if o.MountInfo == "" {
		o.MountInfo = "/proc/self/mountinfo"
		if o.Swaps == "" {
			o.Swaps = "/proc/swaps"
		}
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Command == nil {
		o.Command = runCommand
	}
	if o.SystemDrive == "" {
		o.SystemDrive = os.Getenv("SystemDrive")
	}
	if o.SystemDrive == "" {
		o.SystemDrive = "C:"
	}
	if o.SystemRoot == "" {
		o.SystemRoot = os.Getenv("SystemRoot")
	}
	if o.SystemRoot == "" {
		o.SystemRoot = `C:\Windows`
	}
	return o
}

// DiskEncryption checks whether the system volume is encrypted: dm-crypt
// under the root filesystem on Linux, BitLocker protection of the system
// drive on Windows, FileVault on macOS. It never fails: what it cannot
// tell is [Unknown], with the reason as evidence.
func DiskEncryption(ctx context.Context, opts Options) (c Check) {
	o := opts.withDefaults()
	defer func() {
		if r := recover(); r != nil {
			c = Check{Result: Unknown, Evidence: fmt.Sprintf("the check failed unexpectedly: %v", r)}
		}
		c.Name = NameDiskEncryption
		c.Evidence = evidence(c.Evidence)
	}()
	if err := ctx.Err(); err != nil {
		return Check{Result: Unknown, Evidence: "the check was cancelled: " + err.Error()}
	}
	switch o.OS {
	case "linux":
		return linuxDiskEncryption(ctx, o)
	case "windows":
		return bitLocker(ctx, o)
	case "darwin":
		return fileVault(ctx, o)
	}
	return Check{Result: Unknown, Evidence: "there is no disk encryption check for " + o.OS}
}

// evidence makes text safe to report: printable and bounded.
func evidence(s string) string {
	return storage.CleanText(s, MaxEvidence)
}

// maxOutput bounds what a program may print.
const maxOutput = 1 << 20

// errTooMuch means a program printed more than maxOutput.
var errTooMuch = errors.New("printed too much")

// runCommand is the default Command.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, int, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out limited
	cmd.Stdout = &out
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if out.over {
		return nil, -1, fmt.Errorf("%s %w", filepath.Base(name), errTooMuch)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && ctx.Err() == nil {
		return out.Bytes(), exit.ExitCode(), nil
	}
	if err != nil {
		return nil, -1, err
	}
	return out.Bytes(), 0, nil
}

type limited struct {
	bytes.Buffer
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.Len(); len(p) > room {
		l.over = true
		p = p[:max(room, 0)]
	}
	l.Buffer.Write(p)
	return len(p), nil
}

// run runs a program with the timeout.
func run(ctx context.Context, o Options, name string, args ...string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	out, code, err := o.Command(ctx, name, args...)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return out, code, err
}
