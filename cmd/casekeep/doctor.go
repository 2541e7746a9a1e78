package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/posture"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// Clock skew the doctor accepts, and past which it only warns.
const (
	skewWarn = time.Minute
	skewFail = 5 * time.Minute
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name: "doctor", Args: "[--state DIR] [--config DIR]",
		Summary: "check this laptop's casekeep, in plain words, for IT",
		Help: `Doctor checks what an IT technician on the phone needs to know, and says each
in plain words: the service is installed and running; the device is enrolled;
the server acknowledged a recent heartbeat; the policy in force, its version,
and that its signature checks against the key pinned at enrollment; the vault
key (wrapped, never a plain file on an enrolled device; open or locked, and
why; a device wiped says when and by which command) and how its offline copy
is held (a warning if only by the OS, without a TPM: that is only as safe
as the disk encryption); the cache folder is one
only the right people can write; disk encryption; and the clock's difference
from the server's (and whether the agent found it behind the server's last
signed time, as a clock set back would be). It exits 0 when all is well, 1 if
anything fails. Run it as root or an administrator for every check.`,
		Run: func(e *cli.Env, args []string) error {
			f := addServiceFlags(e)
			l, _, err := f.parse(e, args)
			if err != nil {
				return err
			}
			d := doctor{
				layout: l, now: time.Now,
				service:        func() (string, error) { return serviceState(*f.name, l) },
				diskEncryption: func(ctx context.Context) posture.Check { return posture.DiskEncryption(ctx, posture.Options{}) },
				serverTime:     serverTime,
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			failed := 0
			for _, c := range d.run(ctx) {
				fmt.Fprintf(safeWriter{e.Stdout}, "%-5s %-16s %s\n", c.mark(), c.what, c.detail)
				if c.level == levelFail {
					failed++
				}
			}
			if failed > 0 {
				return errors.New(plural(failed, "check failed", "checks failed"))
			}
			fmt.Fprintln(e.Stdout, "all is well")
			return nil
		},
	}
}

type level int

const (
	levelOK level = iota
	levelWarn
	levelFail
)

// finding is the outcome of one check.
type finding struct {
	level        level
	what, detail string
}

func (f finding) mark() string { return [...]string{"ok", "warn", "FAIL"}[f.level] }

// doctor runs the checks; its fields are what it asks of the system.
type doctor struct {
	layout         installer.Layout
	now            func() time.Time
	service        func() (string, error)
	diskEncryption func(context.Context) posture.Check
	serverTime     func(context.Context, *report.Enrollment) (time.Time, error)
}

func (d doctor) run(ctx context.Context) []finding {
	var out []finding
	add := func(l level, what, format string, args ...any) {
		out = append(out, finding{l, what, fmt.Sprintf(format, args...)})
	}

	switch st, err := d.service(); {
	case err != nil:
		add(levelFail, "service", "cannot tell: %v", err)
	case st == "running":
		add(levelOK, "service", "installed and running")
	case st == "not installed":
		add(levelFail, "service", "not installed: casekeep service install, or reinstall the package")
	default:
		add(levelFail, "service", "installed but %s: casekeep service start", st)
	}

	en, err := report.LoadEnrollment(d.layout.State)
	switch {
	case errors.Is(err, report.ErrNotEnrolled):
		msg := "not enrolled"
		if env, err := installer.ReadEnrollEnv(d.layout.EnrollEnv()); err == nil && env.Token != "" {
			msg += fmt.Sprintf(": %s names %s; the service has not managed to enroll yet (see its log)", d.layout.EnrollEnv(), env.Server)
		} else {
			msg += fmt.Sprintf(": put the server URL and a token in %s, or run casekeep service install --server URL --token TOKEN", d.layout.EnrollEnv())
		}
		add(levelFail, "enrolled", "%s", msg)
	case err != nil:
		add(levelFail, "enrolled", "cannot read the enrollment: %v (run as root or an administrator)", err)
	default:
		add(levelOK, "enrolled", "device %s with %s", en.DeviceID, en.Server)
	}

	st, stErr := agent.ReadStatus(d.layout.State)
	var pol *policy.Policy
	if en != nil {
		pol, err = en.LoadPolicy(d.layout.State)
		if err != nil {
			add(levelFail, "policy", "the policy in force does not check against the key pinned at enrollment: %v", err)
		} else {
			add(levelOK, "policy", "version %d (%s), signature checks against the pinned policy key", pol.Version, pol.Name)
		}
		switch {
		case stErr != nil:
			add(levelFail, "last heartbeat", "no status from the agent: %v", stErr)
		case st.Heartbeat == nil || st.Heartbeat.LastAck.IsZero():
			add(levelFail, "last heartbeat", "the server has not acknowledged any heartbeat from this run%s", lastError(st))
		default:
			age := d.now().Sub(st.Heartbeat.LastAck)
			limit := 3 * time.Hour
			if pol != nil {
				limit = max(3*pol.Heartbeat.Interval, 15*time.Minute)
			}
			l := levelOK
			if age > limit {
				l = levelFail
			}
			add(l, "last heartbeat", "acknowledged %s ago, %d waiting to be sent%s", age.Round(time.Second), st.Heartbeat.Waiting, lastError(st))
		}
	}

	out = append(out, d.checkKeys(en, st)...)
	out = append(out, d.checkCache(st, pol))

	c := d.diskEncryption(ctx)
	switch c.Result {
	case posture.Pass:
		add(levelOK, "disk encryption", "on: %s", c.Evidence)
	case posture.Fail:
		add(levelFail, "disk encryption", "off: %s", c.Evidence)
	default:
		add(levelWarn, "disk encryption", "could not tell: %s", c.Evidence)
	}

	if en != nil {
		before := d.now()
		t, err := d.serverTime(ctx, en)
		after := d.now()
		if err != nil {
			add(levelWarn, "clock", "could not reach %s to compare clocks: %v", en.Server, err)
		} else {
			// The server's Date has whole seconds: allow for that and the trip.
			skew := before.Add(after.Sub(before)/2).Sub(t) - 500*time.Millisecond
			abs := max(skew, -skew)
			l := levelOK
			switch {
			case abs > skewFail:
				l = levelFail
			case abs > skewWarn:
				l = levelWarn
			}
			dir := "ahead of"
			if skew < 0 {
				dir = "behind"
			}
			add(l, "clock", "%s %s the server's (within a second)", abs.Round(time.Second), dir)
		}
	}
	return out
}

// checkKeys looks at the vault key: a device wiped says so; on an
// enrolled device the identity must be wrapped (never a plain file), and
// the offline copy of its lease is best held by the TPM.
func (d doctor) checkKeys(en *report.Enrollment, st *agent.Status) []finding {
	w, err := agent.ReadWipe(d.layout.State)
	switch {
	case err != nil:
		return []finding{{levelWarn, "vault key", fmt.Sprintf("cannot read the wipe record: %v", err)}}
	case w.Finished():
		return []finding{{levelWarn, "vault key", fmt.Sprintf("this device was wiped on %s by command %s: enroll it again to use casekeep",
			w.Done.Local().Format("2006-01-02 15:04"), w.Command)}}
	case w != nil:
		return []finding{{levelWarn, "vault key", fmt.Sprintf("this device is being wiped (command %s, at step %s): leave the service running", w.Command, w.Phase)}}
	case en == nil:
		return nil
	}
	plain := filepath.Join(d.layout.State, keys.FileName)
	if _, err := os.Lstat(plain); err == nil {
		return []finding{{levelFail, "vault key", fmt.Sprintf("the device identity is still a plain file (%s): anyone who reads this disk opens every sealed file; the agent wraps it when the server serves its lease (is the server up to date?)", plain)}}
	}
	if _, err := os.Lstat(filepath.Join(d.layout.State, keys.WrappedName)); err != nil {
		return []finding{{levelFail, "vault key", "the device has no identity yet: the service makes it with the server's first lease (is it running? see its log)"}}
	}
	if st == nil {
		return []finding{{levelOK, "vault key", "wrapped by the server's lease (the agent is not running: not known whether it is open)"}}
	}
	k := st.Keys
	var out []finding
	switch k.Lease {
	case wire.LeaseUnlocked:
		out = append(out, finding{levelOK, "vault key", "wrapped, and unlocked with a lease the server served" + memory(k)})
	case wire.LeaseOffline:
		out = append(out, finding{levelWarn, "vault key", "wrapped, unlocked from the offline copy until " + k.OfflineUntil.Local().Format("2006-01-02 15:04") + ": the server could not be reached" + memory(k)})
	case wire.LeaseLocked:
		out = append(out, finding{levelWarn, "vault key", "wrapped, and LOCKED: " + k.Why})
	default:
		out = append(out, finding{levelWarn, "vault key", "the agent says " + k.Lease})
	}
	switch k.OfflineCopy {
	case wire.OfflineTPM:
		out = append(out, finding{levelOK, "offline copy", offlineWords(k.OfflineCopy, runtime.GOOS)})
	case wire.OfflineOS:
		out = append(out, finding{levelWarn, "offline copy", offlineWords(k.OfflineCopy, runtime.GOOS) + "; keep disk encryption on"})
	default:
		out = append(out, finding{levelOK, "offline copy", offlineWords(wire.OfflineNone, runtime.GOOS)})
	}
	if k.ClockBehind != "" {
		out = append(out, finding{levelWarn, "clock", "this laptop's clock is " + k.ClockBehind + " behind the server's last signed time (set back?): no offline copy of the lease is kept or used until it is right"})
	}
	return out
}

func memory(k agent.KeyStatus) string {
	if k.MemoryLocked {
		return "; its memory is locked against swap"
	}
	return "; its memory could not be locked against swap"
}

func lastError(st *agent.Status) string {
	if st == nil || st.Heartbeat == nil || st.Heartbeat.LastError == "" {
		return ""
	}
	return "; last error: " + st.Heartbeat.LastError
}

// checkCache looks at the cache folder the running agent uses (or the
// policy's): it must be a real folder that no one but its owner (root, or
// the user whose home holds it) can write.
func (d doctor) checkCache(st *agent.Status, pol *policy.Policy) finding {
	dir := ""
	if st != nil {
		dir = st.Vault.Dir
	}
	if dir == "" && pol != nil {
		dir, _ = agent.CacheDir(pol)
	}
	if dir == "" {
		return finding{levelWarn, "cache", "unknown until the device is enrolled and the agent has run"}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return finding{levelFail, "cache", fmt.Sprintf("%s: %v", dir, err)}
	}
	if !fi.IsDir() {
		return finding{levelFail, "cache", dir + " is not a folder (a symlink or a file)"}
	}
	if problem := cacheWritableByOthers(dir, fi); problem != "" {
		return finding{levelFail, "cache", dir + ": " + problem}
	}
	return finding{levelOK, "cache", dir + ": only its owner can write it"}
}

// serverTime asks the server for its time: the Date of any answer over
// the pinned connection.
func serverTime(ctx context.Context, en *report.Enrollment) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(en.Server, "/")+"/", nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := en.Client().Do(req)
	if err != nil {
		return time.Time{}, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	t, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}, errors.New("the server's answer has no Date")
	}
	return t, nil
}
