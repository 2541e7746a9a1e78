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
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/cli"
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
