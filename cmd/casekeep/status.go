package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/printable"
	"github.com/casekeep/casekeep/internal/units"
	"github.com/casekeep/casekeep/internal/wire"
)

// stale is how old a status may be before the agent is taken to be stopped.
const stale = 3 * time.Minute

func statusCommand() *cli.Command {
	return &cli.Command{
		Name: "status", Args: "[--state DIR] [--json]",
		Summary: "show what casekeep sees on this laptop and anything to do",
		Help: `Status first asks the running service over its local channel (the system's
socket or pipe; with --state DIR, the one beside DIR, as ` + "`casekeep run --state DIR`" + `
opens it), which answers each account only as far as it may: root or an
administrator sees everything below; another account sees the vault key's
state, whether the laptop is enrolled and reaches the server, and what to do,
but no file, path or case reference. If the channel does not answer, it reads
the status file the agent keeps instead, and says which it used (on standard
error). The whole status is: the vault (sealed files, files waiting to be sealed), its key
(unlocked by the server, unlocked offline and until when, locked and why, or
wiped), how the offline copy of the lease is held (tpm: sealed to this computer's
TPM; os: by the OS only, which is only as safe as the disk encryption; or
none), whether the laptop's clock is behind the server's last signed time
(set back: no offline copy is then kept or used), and whether the key's
memory is locked against swap, the drives it has seen and whether the council approves them, personal cloud
folders found, disk encryption, the last heartbeat the server acknowledged,
what it did with case files found outside the vault, and anything you should
do, in plain words. It exits 1 if the agent is not running.`,
		Run: func(e *cli.Env, args []string) error {
			f := addAgentFlags(e, false)
			asJSON := e.Flags.Bool("json", false, "print the status as JSON")
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			dir, err := f.stateDir()
			if err != nil {
				return err
			}
			addr := channelAddr(dir)
			ls, cerr := askStatus(addr)
			if cerr == nil {
				fmt.Fprintf(e.Stderr, "casekeep status: asked the casekeep service over its local channel (%s)\n", addr)
				if ls.Full == nil {
					if *asJSON {
						enc := json.NewEncoder(e.Stdout)
						enc.SetIndent("", "  ")
						return enc.Encode(ls)
					}
					printLocalStatus(e.Stdout, ls, time.Now())
					return nil
				}
			} else {
				fmt.Fprintf(e.Stderr, "casekeep status: the service's local channel (%s) did not answer (%v): reading the status file the agent keeps beside %s\n", addr, cerr, dir)
			}
			var s *agent.Status
			if cerr == nil {
				s = ls.Full
			} else if s, err = agent.ReadStatus(dir); err != nil {
				return fmt.Errorf("%w (is --state right? is the agent running?)", err)
			}
			if *asJSON {
				enc := json.NewEncoder(e.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(s); err != nil {
					return err
				}
			} else {
				printStatus(e.Stdout, s, time.Now())
			}
			if age := time.Since(s.UpdatedAt); age > stale {
				return fmt.Errorf("the agent is not running: its status was last written %s ago", age.Round(time.Second))
			}
			return nil
		},
	}
}

// termSafe replaces with '?' what a terminal would act on (control
// characters, escape sequences, bidirectional overrides and other format
// characters, invalid UTF-8) in text that came from files, volume labels or
// configuration users control; it keeps line feeds (see [printable.Text]).
func termSafe(s string) string {
	return printable.Text(s, printable.Options{Replacement: '?', Newlines: true})
}

// safeWriter passes text through termSafe.
type safeWriter struct{ w io.Writer }

func (sw safeWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(sw.w, termSafe(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}

func printStatus(out io.Writer, s *agent.Status, now time.Time) {
	w := safeWriter{out}
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04") + " (" + now.Sub(t).Round(time.Second).String() + " ago)"
	}
	running := "running"
	if now.Sub(s.UpdatedAt) > stale {
		running = "NOT RUNNING (last seen " + ago(s.UpdatedAt) + ")"
	}
	fmt.Fprintf(w, "casekeep %s, agent %s (process %d), policy %d %q\n\n", running, s.AgentVersion, s.PID, s.PolicyVersion, s.PolicyName)
	if wp := s.Wipe; wp.Finished() {
		fmt.Fprintf(w, "This device was WIPED on %s by command %s: its sealed files, its identity and every copy of its lease are gone.\n\n",
			wp.Done.Local().Format("2006-01-02 15:04"), wp.Command)
		printAdvice(w, s)
		return
	} else if wp != nil {
		fmt.Fprintf(w, "This device is being WIPED (command %s, at step %s).\n\n", wp.Command, wp.Phase)
	}

	fmt.Fprintf(w, "Vault: %s\n", s.Vault.Dir)
	fmt.Fprintf(w, "  %d sealed files (%s) for %d case references", s.Vault.Files, units.Bytes(s.Vault.Bytes), s.Vault.CaseRefs)
	if s.Vault.Plaintext > 0 {
		fmt.Fprintf(w, "; %d waiting to be sealed", s.Vault.Plaintext)
	}
	fmt.Fprintln(w)
	printKeys(w, s.Keys)

	d := s.DiskEncryption
	switch d.Result {
	case "":
		fmt.Fprintln(w, "Disk encryption: not checked yet")
	default:
		fmt.Fprintf(w, "Disk encryption: %s (%s)\n", map[string]string{"pass": "on", "fail": "OFF", "unknown": "unknown"}[d.Result], d.Evidence)
	}

	fmt.Fprintln(w, "Drives:")
	n := 0
	for _, v := range s.Volumes {
		if !v.Removable {
			continue
		}
		n++
		ok := "NOT APPROVED"
		if v.Approved {
			ok = "approved"
			if v.ApprovedAs != "" {
				ok += " (" + v.ApprovedAs + ")"
			}
		}
		name := v.Label
		if name == "" {
			name = v.Model
		}
		fmt.Fprintf(w, "  %s %q at %s: %s", strings.ToUpper(string(v.Bus)), name, v.MountPoint, ok)
		if v.Action != "" {
			fmt.Fprintf(w, "; %s", v.Action)
		}
		if v.Problem != "" {
			fmt.Fprintf(w, " (%s)", v.Problem)
		}
		fmt.Fprintln(w)
	}
	if n == 0 {
		fmt.Fprintln(w, "  no removable drives")
	}

	fmt.Fprintln(w, "Cloud folders:")
	for _, f := range s.SyncFolders {
		what := "the council's"
		if f.Swept {
			what = "personal: case files found in it are " + map[string]string{"audit": "reported", "seal": "encrypted", "quarantine": "moved into the vault"}[string(f.Action)]
		}
		fmt.Fprintf(w, "  %s at %s: %s\n", f.Provider, f.Path, what)
	}
	if len(s.SyncFolders) == 0 {
		fmt.Fprintln(w, "  none found")
	}

	if len(s.SweepFolders) > 0 {
		fmt.Fprintf(w, "Watched for case files: %s\n", strings.Join(s.SweepFolders, ", "))
	}
	if len(s.Recent) > 0 {
		fmt.Fprintln(w, "Recently:")
		for _, a := range s.Recent[max(0, len(s.Recent)-10):] {
			fmt.Fprintf(w, "  %s %s\n", a.Time.Local().Format("2006-01-02 15:04"), a.What)
		}
	}

	if h := s.Heartbeat; h != nil {
		fmt.Fprintf(w, "Server: %s, last heartbeat acknowledged %s", h.Server, ago(h.LastAck))
		if h.Waiting > 0 {
			fmt.Fprintf(w, ", %d waiting to be sent", h.Waiting)
		}
		if h.LastError != "" {
			fmt.Fprintf(w, " (last error: %s)", h.LastError)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "Server: not enrolled (this agent reports to no server)")
	}

	fmt.Fprintln(w)
	printAdvice(w, s)
}

// printKeys says, in words, whether the vault key is open and how its
// offline copy is held.
func printKeys(w io.Writer, k agent.KeyStatus) {
	until := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return " until " + t.Local().Format("2006-01-02 15:04")
	}
	var state string
	switch k.Lease {
	case wire.LeaseUnlocked:
		state = "unlocked by the server"
	case wire.LeaseOffline:
		state = "unlocked offline" + until(k.OfflineUntil) + " (the server could not be reached)"
	case wire.LeaseLocked:
		state = "LOCKED"
		if k.Why != "" {
			state += " (" + k.Why + ")"
		}
		state += ": new files are still encrypted, none can be opened"
	case wire.LeaseWiped:
		state = "wiped"
	case wire.LeasePlaintext:
		state = "NOT WRAPPED: the identity is still a plain file, until the server serves a lease"
	case wire.LeaseNone:
		state = "a plain file in the state folder (not enrolled)"
	default:
		state = k.Lease
	}
	fmt.Fprintf(w, "Vault key: %s\n", state)
	if k.OfflineCopy != "" {
		fmt.Fprintf(w, "  offline copy: %s%s\n", offlineWords(k.OfflineCopy, runtime.GOOS), until(k.OfflineUntil))
	}
	if k.ClockBehind != "" {
		fmt.Fprintf(w, "  clock: %s BEHIND the server's last signed time (set back?): no offline copy is kept or used until it is right\n", k.ClockBehind)
	}
	if k.Lease == wire.LeaseUnlocked || k.Lease == wire.LeaseOffline {
		if k.MemoryLocked {
			fmt.Fprintln(w, "  key memory: locked against swap")
		} else {
			fmt.Fprintln(w, "  key memory: NOT locked against swap (the system refused)")
		}
	}
}

func printAdvice(w io.Writer, s *agent.Status) {
	if len(s.Advice) == 0 {
		fmt.Fprintln(w, "Nothing to do: all is well.")
		return
	}
	fmt.Fprintln(w, "What to do:")
	for _, a := range s.Advice {
		fmt.Fprintf(w, "  - %s\n", a)
	}
}

// offlineWords says how an offline copy of the lease of the kind (a
// wire.Offline constant) is held on goos, and what that is worth, without
// claiming more than it does.
func offlineWords(kind, goos string) string {
	switch kind {
	case wire.OfflineTPM:
		return "sealed to this computer's TPM (it opens only on this laptop, not from a copy of its disk; an administrator of this laptop could still unseal it)"
	case wire.OfflineOS:
		how := "a file only root can read"
		switch goos {
		case "windows":
			how = "DPAPI (machine scope)"
		case "darwin":
			how = "the System keychain"
		}
		return "protected by the operating system only, with " + how + ", no TPM: only as safe as the disk encryption (an administrator of this computer, or anyone who reads its disk unencrypted, can read it)"
	case wire.OfflineNone:
		return "none (the vault opens only while the server answers)"
	}
	return kind
}
