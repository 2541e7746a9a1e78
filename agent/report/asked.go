package report

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"time"

	"github.com/casekeep/casekeep/agent/internal/sysfs"
	"github.com/casekeep/casekeep/installer"
)

// How EnrollWhenAsked waits: after a failed attempt, enrollBackoff,
// doubling up to enrollBackoffMax; while nothing names a server,
// defaultEnrollPoll between looks at the enrollment file.
const (
	enrollBackoff     = 10 * time.Second
	enrollBackoffMax  = 10 * time.Minute
	defaultEnrollPoll = 30 * time.Second
)

// EnrollOptions say what [EnrollWhenAsked] enrolls with, and how it waits.
type EnrollOptions struct {
	// StateDir is the agent's state folder, where the enrollment is kept.
	StateDir string

	// Server and Token are what the command line names, if anything; when
	// Server is "", EnvFile is read instead.
	Server, Token string

	// EnvFile is the installer's enrollment file (installer.EnrollEnvFile
	// in the configuration folder), which may name the server and token.
	// Once the device has enrolled, the token is removed from it.
	EnvFile string

	// Host describes this device to the server (see LocalHost).
	Host HostInfo

	// Interactive is true when the agent runs from a terminal rather than
	// under a service manager. A service first protects EnvFile's folder
	// (installer.PrepareConfig) before trusting what is in it, and retries
	// a Server from the command line that fails; from a terminal that
	// failure is returned at once.
	Interactive bool

	// ForgetServiceToken, if not nil, removes the token from the service's
	// command line, where the Windows MSI puts it. A service calls it once
	// it has enrolled with a token from the command line.
	ForgetServiceToken func() error

	// Log says what happens (nothing is logged if it is nil).
	Log *slog.Logger

	// Poll is how often EnvFile is looked at while nothing names a server
	// (30 s if zero).
	Poll time.Duration

	// after is time.After, but for tests.
	after func(time.Duration) <-chan time.Time
}

// fromCommandLine is where a server and token given as Server and Token
// come from, in the log.
const fromCommandLine = "the command line"

// EnrollWhenAsked enrolls the device (see [Enroll]) with o.Server and
// o.Token, or with what o.EnvFile names, retrying while the server cannot be
// reached or refuses (after 10 s, doubling to 10 min), and waiting, looking
// at the file every o.Poll, while nothing names a server. Once enrolled, it
// removes the token from the file (and, for a service given it on the
// command line, from the service's command line). It returns ctx's error
// if ctx is done first.
func EnrollWhenAsked(ctx context.Context, o EnrollOptions) (*Enrollment, error) {
	log, poll, after := o.Log, o.Poll, o.after
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if poll <= 0 {
		poll = defaultEnrollPoll
	}
	if after == nil {
		after = time.After
	}
	if !o.Interactive {
		// Protect the folder before trusting what is in it (on Windows,
		// ProgramData lets users create files).
		if err := installer.PrepareConfig(filepath.Dir(o.EnvFile)); err != nil {
			log.Error("the configuration folder is not protected", "err", err)
		}
	}
	backoff, waiting, lastErr := enrollBackoff, false, ""
	for {
		s, t, from := o.Server, o.Token, fromCommandLine
		if s == "" {
			env, err := installer.ReadEnrollEnv(o.EnvFile)
			switch {
			case err == nil && env.Server != "" && env.Token != "":
				s, t, from = env.Server, env.Token, o.EnvFile
			case err == nil || errors.Is(err, fs.ErrNotExist):
				if !waiting {
					log.Warn("not enrolled: waiting for a server URL and token in "+o.EnvFile, "file", o.EnvFile)
					waiting = true
				}
			default:
				if err.Error() != lastErr { // once, not every look
					log.Error("the enrollment file cannot be used", "err", err)
					lastErr = err.Error()
				}
			}
		}
		if s != "" {
			en, p, err := Enroll(ctx, s, t, o.Host, o.StateDir)
			if err == nil {
				log.Info("enrolled", "device", en.DeviceID, "server", en.Server, "policy_version", p.Version, "from", from)
				if err := installer.ForgetToken(o.EnvFile); err != nil {
					log.Warn("could not remove the used token from the enrollment file", "err", err)
				}
				if from == fromCommandLine && !o.Interactive && o.ForgetServiceToken != nil {
					if err := o.ForgetServiceToken(); err != nil {
						log.Warn("could not remove the used token from the service's command line", "err", err)
					}
				}
				return en, nil
			}
			if from == fromCommandLine && o.Interactive {
				return nil, err
			}
			log.Warn("could not enroll; will retry", "server", s, "err", err, "retry_in", backoff)
		}
		wait := poll
		if s != "" {
			wait, backoff = backoff, min(2*backoff, enrollBackoffMax)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-after(wait):
		}
	}
}

// LocalHost describes this computer for enrollment: its name, OS and
// architecture, its hardware serial where it can be read, the user
// enrolling it (the one behind sudo, if any), and agentVersion.
func LocalHost(agentVersion string) HostInfo {
	h, _ := os.Hostname()
	info := HostInfo{Hostname: h, OS: runtime.GOOS, Arch: runtime.GOARCH, Serial: sysfs.HardwareSerial(), AgentVersion: agentVersion}
	if u := os.Getenv("SUDO_USER"); u != "" {
		info.User = u
	} else if u, err := user.Current(); err == nil {
		info.User = u.Username
	}
	return info
}
