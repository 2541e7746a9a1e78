package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/cli"
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
device's signing key, pins the server's TLS key, server key and policy key,
saves the signed policy, and makes the device identity wrapped with the first
lease the server gives; from then on the agent reports to that server only.
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
			en, p, err := report.Enroll(context.Background(), *server, *token, report.LocalHost(agent.AgentVersion()), dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "enrolled as %s with %s\npolicy version %d (%s) in force\n", en.DeviceID, en.Server, p.Version, p.Name)
			if g := en.Lease; g != nil {
				// The identity, wrapped with the first lease from the start.
				// (Without one, the service asks the server for it.)
				defer en.ForgetLease()
				k, err := keys.Create(dir, en.DeviceID, g.Key, g.KeyID, p.Vault.PostQuantum())
				if err != nil {
					return fmt.Errorf("enrolled, but the device identity could not be made (the service makes it at its start): %w", err)
				}
				defer k.Lock() // zeroes the lease key in memory
				// Pin its public recipients, as the service does, so that
				// the vault seals while locked from its first start.
				if sk, err := report.LoadSigningKey(dir); err == nil {
					pk := keys.PinKeyFrom(sk)
					k.SetPinKey(pk)
					clear(pk)
					clear(sk)
				}
				fmt.Fprintln(e.Stdout, "device identity made, wrapped with the server's lease")
			}
			return nil
		},
	}
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
	// The lease key and the device identity are in this process's memory
	// while the vault is unlocked: never in a core dump.
	if err := keys.DisableCoreDumps(); err != nil {
		log.Warn("could not turn off core dumps for the agent", "err", err)
	}
	// A wipe the server has acknowledged is finished before anything else:
	// without its enrollment the device cannot report any more.
	wiped, err := agent.FinishWipe(stateDir)
	if err != nil {
		log.Warn("could not read or finish the wipe record", "err", err)
	}
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
		if *server != "" && *token == "" && !wiped.Finished() {
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
	if en == nil && wiped.Finished() && *token == "" && *f.policy == "" {
		if env, err := installer.ReadEnrollEnv(enrollEnv); err != nil || env.Token == "" {
			// Nothing asks to enroll it again: stay wiped, saying so, so
			// that a service manager does not restart it in a loop.
			msg := fmt.Sprintf("this device was wiped on %s by IT security (command %s): casekeep does nothing here until it is enrolled again",
				wiped.Done.Local().Format("2006-01-02 15:04"), wiped.Command)
			log.Warn(msg)
			return runAsService(func(ctx context.Context, _ func() agent.Stop) error {
				agent.IdleWiped(ctx, stateDir, wiped)
				return nil
			}, stateDir, log, logLevel(*debug))
		}
		*server = "" // enroll with what the enrollment file names
	}
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
	agent.ClearStopReason(stateDir) // a reason given for an earlier stop
	return runAsService(func(ctx context.Context, stop func() agent.Stop) error {
		cfg := agent.Config{StateDir: stateDir, Logger: log, Homes: homes, Policy: pol, LocalSocket: channelAddr(stateDir)}
		if en == nil && pol == nil {
			var err error
			if en, err = report.EnrollWhenAsked(ctx, report.EnrollOptions{
				StateDir: stateDir, Server: *server, Token: *token, EnvFile: enrollEnv,
				Host: report.LocalHost(agent.AgentVersion()), Interactive: interactive(), Log: log,
				ForgetServiceToken: func() error { return installer.ForgetServiceToken(serviceName) },
			}); err != nil {
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
		if installer.EnsureWritable(a.WritableFolders(a.Policy()), log) {
			<-ctx.Done() // systemd restarts the service with the folders writable
			return nil
		}
		go showSealProgress(ctx, a.Vault, prog)
		err = a.Run(ctx)
		if ctx.Err() == nil {
			return err // failed: no farewell, so the next start reports it
		}
		a.SayFarewell(stop())
		return err
	}, stateDir, log, logLevel(*debug))
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
