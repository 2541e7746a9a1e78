package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

const policyHelp = `The policy is a signed bundle checked against --policy-key, or, for trying
casekeep out, a policy YAML file (unsigned: an enrolled agent only takes
signed bundles).`

func runCommand() *cli.Command {
	return &cli.Command{
		Name: "run", Args: "[--server URL --token TOKEN | --policy FILE [--policy-key FILE]] [--state DIR] [--cache DIR] [--debug]",
		Summary: "run the agent in the foreground (or under the service manager)",
		Help: `Run keeps the case-file cache sealed: every file that appears in it is
encrypted with age to this device and to the policy's escrow keys within a
second, and its plaintext removed. It scans the cache at start (sealing what is
there, with progress on a terminal), then watches it, and rescans it every 15
minutes. An enrolled agent reports to its server in signed heartbeats and takes
newer policy from it. Ctrl-C or SIGTERM stops it cleanly: a seal in progress is
finished or rolled back.

An enrolled agent takes its policy from its server. On first start, --server and
--token enroll it (as casekeep enroll does). Without a server, ` + policyHelp + `

The cache is the policy's cache folder for this OS, expanded for the user
running the agent, unless --cache names another.`,
		Run: runAgent,
	}
}

func enrollCommand() *cli.Command {
	return &cli.Command{
		Name: "enroll", Args: "--server URL --token TOKEN [--state DIR]",
		Summary: "enroll this device with a casekeep server",
		Help: `Enroll registers this device with the casekeep server at --server, using an
enrollment token from IT security (casekeep-server token create). It makes the
device's signing key, pins the server's TLS key, server key and policy key, and
saves the signed policy; from then on the agent reports to that server only.
A token that carries the server's certificate pin is checked from the first
connection; otherwise the server's certificate must be trusted by this system.`,
		Run: func(e *cli.Env, args []string) error {
			f := addAgentFlags(e, false)
			server := e.Flags.String("server", "", "the casekeep server's `URL`, https://host:port")
			token := e.Flags.String("token", "", "the enrollment `TOKEN` (or set CASEKEEP_ENROLL_TOKEN, which ps does not show)")
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			if *token == "" {
				*token = os.Getenv("CASEKEEP_ENROLL_TOKEN")
			}
			if *server == "" || *token == "" {
				return cli.Usagef("enroll: --server and --token are required")
			}
			dir, err := f.stateDir()
			if err != nil {
				return err
			}
			en, p, err := enroll(context.Background(), dir, *server, *token)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "enrolled as %s with %s\npolicy version %d (%s) in force\n", en.DeviceID, en.Server, p.Version, p.Name)
			return nil
		},
	}
}

func enroll(ctx context.Context, stateDir, server, token string) (*report.Enrollment, *policy.Policy, error) {
	if err := state.Prepare(stateDir); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return report.Enroll(ctx, server, token, hostInfo(), stateDir)
}

type agentFlags struct {
	policy, policyKey, state, cache *string
}

func addAgentFlags(e *cli.Env, withPolicy bool) agentFlags {
	var f agentFlags
	if withPolicy {
		f.policy = e.Flags.String("policy", "", "the policy `FILE`: a signed bundle, or YAML to try casekeep out")
		f.policyKey = e.Flags.String("policy-key", "", "the policy public key `FILE` that signed the bundle")
		f.cache = e.Flags.String("cache", "", "the cache `DIR` (default: the policy's, for this OS and user)")
	}
	f.state = e.Flags.String("state", defaultStateDir(), "the agent's state `DIR`")
	return f
}

func (f agentFlags) stateDir() (string, error) {
	return filepath.Abs(*f.state)
}

// loadPolicy reads the policy: a bundle verified against the key, or YAML.
func (f agentFlags) loadPolicy() (*policy.Policy, error) {
	if *f.policy == "" {
		return nil, cli.Usagef("--policy is required")
	}
	data, err := os.ReadFile(*f.policy)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(data, []byte("casekeep-policy-bundle ")) {
		if *f.policyKey == "" {
			return nil, cli.Usagef("%s is a signed bundle: --policy-key is needed to check it", *f.policy)
		}
		kb, err := os.ReadFile(*f.policyKey)
		if err != nil {
			return nil, err
		}
		pub, err := policy.ParsePublicKey(kb)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", *f.policyKey, err)
		}
		p, err := policy.Verify(data, pub, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", *f.policy, err)
		}
		return p, nil
	}
	if *f.policyKey != "" {
		return nil, fmt.Errorf("%s is not a signed bundle, so --policy-key does not apply", *f.policy)
	}
	p, err := policy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", *f.policy, err)
	}
	return p, nil
}

func (f agentFlags) cacheDir(p *policy.Policy) (string, error) {
	if *f.cache != "" {
		return filepath.Abs(*f.cache)
	}
	return agent.CacheDir(p)
}

func newLogger(e *cli.Env, w *progress, debug bool) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: logLevel(debug)}))
}

func logLevel(debug bool) slog.Level {
	if debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func runAgent(e *cli.Env, args []string) error {
	f := addAgentFlags(e, true)
	server := e.Flags.String("server", "", "enroll with the server at `URL` on first start")
	token := e.Flags.String("token", "", "the enrollment `TOKEN` for --server (or set CASEKEEP_ENROLL_TOKEN)")
	config := e.Flags.String("config", installer.Default().Config, "the configuration `DIR`, where "+installer.EnrollEnvFile+" may name the server and token to enroll with")
	debug := e.Flags.Bool("debug", false, "log every file sealed")
	var homes []string
	e.Flags.Func("home", "look after this home `DIR`'s sweep and cloud folders only (repeatable; default: every user's as root, else your own)", func(s string) error {
		abs, err := filepath.Abs(s)
		homes = append(homes, abs)
		return err
	})
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("CASEKEEP_ENROLL_TOKEN")
	}
	stateDir, err := f.stateDir()
	if err != nil {
		return err
	}
	prog := newProgress(os.Stderr)
	log := newLogger(e, prog, *debug)
	en, err := report.LoadEnrollment(stateDir)
	switch {
	case err == nil:
		if *f.policy != "" {
			return cli.Usagef("this device is enrolled with %s: it takes its policy from there (no --policy)", en.Server)
		}
		if *server != "" && !interactive() {
			// The installer's arguments, used already: make sure the token
			// is gone from the service's command line (Windows).
			if *token != "" {
				if err := installer.ForgetServiceToken(serviceName); err != nil {
					log.Warn("could not remove the used token from the service's command line", "err", err)
				}
			}
			*server, *token = "", ""
		} else if *server != "" {
			return cli.Usagef("this device is enrolled with %s: it takes its policy from there (no --server)", en.Server)
		}
	case errors.Is(err, report.ErrNotEnrolled):
		en = nil
		if *server != "" && *token == "" {
			return cli.Usagef("--server needs --token")
		}
		if *server != "" {
			if err := installer.CheckServerURL(*server); err != nil {
				return cli.Usagef("--server: %v", err)
			}
		}
	default:
		return err
	}
	enrollEnv := filepath.Join(*config, installer.EnrollEnvFile)
	if en == nil && *server == "" && *f.policy == "" {
		if _, err := os.Lstat(enrollEnv); err != nil && interactive() {
			return cli.Usagef("this device is not enrolled: give --server and --token, put them in %s, or give --policy to try casekeep out", enrollEnv)
		}
	}
	var pol *policy.Policy
	if en == nil && *f.policy != "" {
		if pol, err = f.loadPolicy(); err != nil {
			return err
		}
	}
	os.Remove(filepath.Join(stateDir, stopReasonFile)) // a reason given for an earlier stop
	return runAsService(func(ctx context.Context, stop func() stopInfo) error {
		cfg := agent.Config{StateDir: stateDir, Logger: log, Homes: homes, Policy: pol}
		if en == nil && pol == nil {
			var err error
			if en, err = enrollWhenAsked(ctx, log, stateDir, *server, *token, enrollEnv); err != nil {
				if ctx.Err() != nil {
					return nil // stopped while waiting
				}
				return err
			}
		}
		if en != nil {
			var err error
			if cfg.Policy, err = en.LoadPolicy(stateDir); err != nil {
				return fmt.Errorf("the policy in force does not load: %w", err)
			}
			if cfg.SigningKey, err = report.LoadSigningKey(stateDir); err != nil {
				return err
			}
			cfg.Enrollment = en
		}
		if *f.cache != "" {
			var err error
			if cfg.CacheDir, err = filepath.Abs(*f.cache); err != nil {
				return err
			}
		}
		a, err := agent.Open(cfg)
		if err != nil {
			return err
		}
		defer a.Close()
		if ensureWritable(a.WritableFolders(a.Policy()), log) {
			<-ctx.Done() // systemd restarts the service with the folders writable
			return nil
		}
		go showSealProgress(ctx, a.Vault, prog)
		err = a.Run(ctx)
		if ctx.Err() == nil {
			return err // failed: no farewell, so the next start reports it
		}
		si := stop()
		if si.reason == "" {
			si = stopInfo{reason: wire.StopService, deadline: time.Now().Add(stopTimeout)}
		}
		deadline := si.deadline
		if d := time.Now().Add(farewellMax); d.Before(deadline) {
			deadline = d
		}
		fctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if ferr := a.Farewell(fctx, si.reason); ferr != nil && cfg.Enrollment != nil {
			log.Warn("could not tell the server the agent is stopping; it goes with the next heartbeats", "reason", si.reason, "err", ferr)
		} else if cfg.Enrollment != nil {
			log.Info("told the server the agent is stopping", "reason", si.reason)
		}
		return err
	}, stateDir, log, logLevel(*debug))
}

// enrollPoll is how often a service waiting for enrollment looks at the
// enrollment file.
var enrollPoll = 30 * time.Second

// enrollWhenAsked enrolls the device with server and token, or with what
// the enrollment file names, retrying with backoff while the server cannot
// be reached, and waiting (checking the file every 30 s) while nothing
// names a server. Once enrolled, the token is removed from the file.
func enrollWhenAsked(ctx context.Context, log *slog.Logger, stateDir, server, token, enrollEnv string) (*report.Enrollment, error) {
	if !interactive() {
		// Protect the folder before trusting what is in it (on Windows,
		// ProgramData lets users create files).
		if err := installer.PrepareConfig(filepath.Dir(enrollEnv)); err != nil {
			log.Error("the configuration folder is not protected", "err", err)
		}
	}
	backoff, waiting, lastErr := 10*time.Second, false, ""
	for {
		s, t, from := server, token, "the command line"
		if s == "" {
			env, err := installer.ReadEnrollEnv(enrollEnv)
			switch {
			case err == nil && env.Server != "" && env.Token != "":
				s, t, from = env.Server, env.Token, enrollEnv
			case err == nil || errors.Is(err, fs.ErrNotExist):
				if !waiting {
					log.Warn("not enrolled: waiting for a server URL and token in "+enrollEnv, "file", enrollEnv)
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
			en, p, err := enroll(ctx, stateDir, s, t)
			if err == nil {
				log.Info("enrolled", "device", en.DeviceID, "server", en.Server, "policy_version", p.Version, "from", from)
				if err := installer.ForgetToken(enrollEnv); err != nil {
					log.Warn("could not remove the used token from the enrollment file", "err", err)
				}
				if from == "the command line" && !interactive() {
					// The MSI put it in the service's command line.
					if err := installer.ForgetServiceToken(serviceName); err != nil {
						log.Warn("could not remove the used token from the service's command line", "err", err)
					}
				}
				return en, nil
			}
			if from == "the command line" && interactive() {
				return nil, err
			}
			log.Warn("could not enroll; will retry", "server", s, "err", err, "retry_in", backoff)
		}
		wait := enrollPoll
		if s != "" {
			wait, backoff = backoff, min(2*backoff, 10*time.Minute)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// hostInfo describes this machine for enrollment.
func hostInfo() report.HostInfo {
	h, _ := os.Hostname()
	info := report.HostInfo{Hostname: h, OS: runtime.GOOS, Arch: runtime.GOARCH, Serial: hardwareSerial(), AgentVersion: agent.AgentVersion()}
	if u := os.Getenv("SUDO_USER"); u != "" {
		info.User = u
	} else if u, err := user.Current(); err == nil {
		info.User = u.Username
	}
	return info
}

// showSealProgress shows, on a terminal, how the sealing of what the agent
// found goes, until nothing is waiting.
func showSealProgress(ctx context.Context, vault func() *vault.Vault, prog *progress) {
	if !prog.tty {
		return
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	shown := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v := vault()
		if v == nil {
			continue
		}
		s := v.Stats()
		switch {
		case s.Pending > 0:
			prog.Set("sealing: %d sealed, %d to go", s.Sealed, s.Pending)
			shown = true
		case shown:
			prog.Done("sealing: %d sealed, none to go", s.Sealed)
			shown = false
		}
	}
}

func lsCommand() *cli.Command {
	return &cli.Command{
		Name: "ls", Args: "[--state DIR] [--json]",
		Summary: "list sealed case files",
		Help: `Ls lists the sealed files in the cache's index: case reference, size,
when it was sealed, and path in the cache. It reads the agent's state and works
while the agent runs.`,
		Run: func(e *cli.Env, args []string) error {
			f := addAgentFlags(e, false)
			asJSON := e.Flags.Bool("json", false, "print JSON, one array of objects")
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			dir, err := f.stateDir()
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(dir, state.DBName)); err != nil {
				return fmt.Errorf("no agent state in %s (has the agent run? is --state right?)", dir)
			}
			entries, err := vault.ReadIndex(state.OpenStore(dir, 10*time.Second))
			if err != nil {
				return err
			}
			if *asJSON {
				type jsonEntry struct {
					Path     string    `json:"path"`
					CaseRef  string    `json:"case_ref"`
					Size     int64     `json:"size"`
					SealedAt time.Time `json:"sealed_at"`
				}
				out := make([]jsonEntry, len(entries))
				for i, en := range entries {
					out[i] = jsonEntry(en)
				}
				enc := json.NewEncoder(e.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CASE REF\tSIZE\tSEALED AT\tPATH")
			for _, en := range entries {
				ref := en.CaseRef
				if ref == "" {
					ref = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ref, humanSize(en.Size), en.SealedAt.Local().Format("2006-01-02 15:04"), en.Path)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "%d sealed files\n", len(entries))
			return nil
		},
	}
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// openVault opens the cache for a command that runs beside the agent. It
// takes no agent lock and never scans.
func openVault(f agentFlags, create bool) (*vault.Vault, error) {
	p, err := f.loadPolicy()
	if err != nil {
		return nil, err
	}
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	cache, err := f.cacheDir(p)
	if err != nil {
		return nil, err
	}
	var device *keys.File
	if create {
		if err := state.Prepare(dir); err != nil {
			return nil, err
		}
		device, err = keys.LoadOrCreate(dir, p.Vault.PostQuantum(), time.Now())
	} else {
		device, err = keys.Load(dir)
	}
	if err != nil {
		return nil, err
	}
	return vault.Open(vault.Config{
		Dir: cache, Device: device, Escrow: p.Vault.EscrowRecipients, CaseRef: p.Vault.CaseRef,
		Store: state.OpenStore(dir, 10*time.Second),
	})
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name: "verify", Args: "--policy FILE [--policy-key FILE] [--state DIR] [--cache DIR]",
		Summary: "check every sealed file decrypts end to end",
		Help: `Verify decrypts every sealed file in the index with the device identity,
end to end, discarding the plaintext, and lists any that fail: missing,
changed, truncated or corrupt. It exits 1 if any fail. It shows progress on a
terminal and works while the agent runs.

` + policyHelp,
		Run: func(e *cli.Env, args []string) error {
			f := addAgentFlags(e, true)
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			v, err := openVault(f, false)
			if err != nil {
				return err
			}
			defer v.Close()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			prog := newProgress(os.Stderr)
			var total int
			problems, err := v.Verify(ctx, func(done, n int) {
				total = n
				prog.Set("verifying: %d of %d", done, n)
			})
			if err != nil {
				return err
			}
			prog.Done("verified %d sealed files", total)
			for _, p := range problems {
				fmt.Fprintf(e.Stdout, "FAILED %s: %v\n", p.Path, p.Err)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d of %d sealed files do not decrypt", len(problems), total)
			}
			fmt.Fprintf(e.Stdout, "all %d sealed files decrypt\n", total)
			return nil
		},
	}
}

func sealCommand() *cli.Command {
	return &cli.Command{
		Name: "seal", Args: "--policy FILE [--policy-key FILE] [--state DIR] [--cache DIR] [--case REF] PATH...",
		Summary: "move case files saved elsewhere into the cache, sealed",
		Help: `Seal moves each file into the cache, sealed: it is encrypted into the cache
(into the folder --case names, if given), checked, and only then removed from
where it was. A file another program has open, a symlink and a file with more
than one hard link are refused.

` + policyHelp,
		Run: func(e *cli.Env, args []string) error {
			f := addAgentFlags(e, true)
			caseRef := e.Flags.String("case", "", "put the files in the cache folder `REF` (a case reference)")
			paths, err := e.Parse(args, 1, -1)
			if err != nil {
				return err
			}
			if strings.ContainsAny(*caseRef, `/\`) || *caseRef == "." || *caseRef == ".." {
				return cli.Usagef("--case %q must be a single folder name", *caseRef)
			}
			v, err := openVault(f, true)
			if err != nil {
				return err
			}
			defer v.Close()
			failed := 0
			for _, p := range paths {
				en, err := v.Import(context.Background(), p, *caseRef)
				if err != nil {
					fmt.Fprintf(e.Stderr, "%s: not sealed: %v\n", p, err)
					failed++
					continue
				}
				ref := en.CaseRef
				if ref == "" {
					ref = "none"
				}
				fmt.Fprintf(e.Stdout, "sealed %s -> %s (case %s, %s)\n", p, filepath.Join(v.Dir(), filepath.FromSlash(en.Path)), ref, humanSize(en.Size))
			}
			if failed > 0 {
				return errors.New(plural(failed, "file was", "files were") + " not sealed")
			}
			return nil
		},
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
