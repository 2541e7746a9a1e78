package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/units"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

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
					Path       string    `json:"path"`
					CaseRef    string    `json:"case_ref"`
					Size       int64     `json:"size"`
					SealedAt   time.Time `json:"sealed_at"`
					Unverified bool      `json:"unverified,omitempty"` // sealed while the vault was locked, not yet checked with the identity
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ref, units.Bytes(en.Size), en.SealedAt.Local().Format("2006-01-02 15:04"), en.Path)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "%d sealed files\n", len(entries))
			return nil
		},
	}
}

// openVault opens the cache for a command that runs beside the agent. It
// takes no agent lock and never scans. On an enrolled device it takes the
// policy in force and the wrapped identity from the state folder (see
// enrolledDevice); on one that is not, the policy from --policy and the
// plain identity file, made if create is set.
func openVault(f agentFlags, create, identity bool) (*vault.Vault, error) {
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	p, device, err := enrolledDevice(f, dir, identity)
	if errors.Is(err, report.ErrNotEnrolled) {
		if p, err = f.loadPolicy(); err != nil {
			return nil, err
		}
		var file *keys.File
		if create {
			if err := state.Prepare(dir); err != nil {
				return nil, err
			}
			file, err = keys.LoadOrCreate(dir, p.Vault.PostQuantum(), time.Now())
		} else {
			file, err = keys.Load(dir)
		}
		device = file
	}
	if err != nil {
		return nil, err
	}
	cache, err := f.cacheDir(p)
	if err != nil {
		return nil, err
	}
	return vault.Open(vault.Config{
		Dir: cache, Device: device, Escrow: p.Vault.EscrowRecipients, CaseRef: p.Vault.CaseRef,
		Store: state.OpenStore(dir, 10*time.Second),
	})
}

// leaseTimeout bounds a command's lease request.
const leaseTimeout = 10 * time.Second

// enrolledDevice returns, for an enrolled device, the policy in force and
// its keyring: locked, which seals (sealing needs only the recipient), or,
// if identity is set, unlocked as the service unlocks it, with a lease
// from the server (which records it), else the offline copy. It returns
// report.ErrNotEnrolled for a device that is not enrolled.
func enrolledDevice(f agentFlags, dir string, identity bool) (*policy.Policy, keys.Device, error) {
	en, err := report.LoadEnrollment(dir)
	if err != nil {
		return nil, nil, err
	}
	if *f.policy != "" {
		return nil, nil, cli.Usagef("this device is enrolled with %s: it takes its policy from there (no --policy)", en.Server)
	}
	p, err := en.LoadPolicy(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("the policy in force does not load: %w", err)
	}
	k, err := keys.Open(dir, en.DeviceID)
	switch {
	case errors.Is(err, keys.ErrNoIdentity):
		return nil, nil, fmt.Errorf("this device has no identity yet: start the casekeep service (%w)", err)
	case err != nil:
		return nil, nil, err
	}
	if k.State() == wire.LeasePlaintext {
		return p, k, nil // the plaintext identity of an older agent opens as it is; the service wraps it
	}
	key, err := report.LoadSigningKey(dir)
	if err != nil {
		return nil, nil, err
	}
	pk := keys.PinKeyFrom(key)
	err = k.SetPinKey(pk)
	clear(pk)
	if err != nil {
		return nil, nil, fmt.Errorf("the device's public key cannot be trusted: %w", err)
	}
	if !identity {
		if !k.RecipientChecked() {
			return nil, nil, errors.New("the device's public key is not authenticated yet (it is pinned the first time the service unlocks the vault): start the casekeep service, connected to its server")
		}
		return p, k, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaseTimeout)
	defer cancel()
	l, err := en.RequestLease(ctx, nil, key, wire.WantKey, k.KeyID(), time.Now())
	defer l.Grant.Zero()
	switch {
	case err == nil && l.Refused != "":
		return nil, nil, fmt.Errorf("the vault is locked: the server refuses the lease (%s)", l.Refused)
	case err == nil && l.Grant != nil && l.Grant.Key != nil:
		if err := k.Unlock(l.Grant.Key, l.Grant.KeyID); err != nil {
			return nil, nil, fmt.Errorf("the server's lease does not open the device identity: %w", err)
		}
	case err == nil:
		return nil, nil, errors.New("the server granted the lease without its key")
	default:
		if oerr := k.UnlockOffline(time.Now()); oerr != nil {
			return nil, nil, fmt.Errorf("the vault is locked: the server cannot be reached (%v) and %w", err, oerr)
		}
	}
	return p, k, nil
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name: "verify", Args: "[--policy FILE [--policy-key FILE]] [--state DIR] [--cache DIR]",
		Summary: "check every sealed file decrypts end to end",
		Help: `Verify decrypts every sealed file in the index with the device identity,
end to end, discarding the plaintext, and lists any that fail: missing,
changed, truncated or corrupt. It exits 1 if any fail. It shows progress on a
terminal and works while the agent runs.

On an enrolled device the identity is opened as the service opens it: with a
lease the server serves (and records), or else the offline copy; the policy is
the one in force. Otherwise: ` + policyHelp,
		Run: func(e *cli.Env, args []string) error {
			f := addAgentFlags(e, true)
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			v, err := openVault(f, false, true)
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
		Name: "seal", Args: "[--policy FILE [--policy-key FILE]] [--state DIR] [--cache DIR] [--case REF] PATH...",
		Summary: "move case files saved elsewhere into the cache, sealed",
		Help: `Seal moves each file into the cache, sealed: it is encrypted into the cache
(into the folder --case names, if given), checked, and only then removed from
where it was. A file another program has open, a symlink and a file with more
than one hard link are refused.

On an enrolled device the policy in force is used, and the files are sealed to
the device's identity even while the vault is locked (sealing needs only its
public key), once the service has authenticated that key: it refuses a key
in the state folder that is not the one the service pinned. Otherwise: ` + policyHelp,
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
			v, err := openVault(f, true, false)
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
				fmt.Fprintf(e.Stdout, "sealed %s -> %s (case %s, %s)\n", p, filepath.Join(v.Dir(), filepath.FromSlash(en.Path)), ref, units.Bytes(en.Size))
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
