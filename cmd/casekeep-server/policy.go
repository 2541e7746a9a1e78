package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server/store"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:    "policy",
		Summary: "write, check and sign the policy every laptop obeys",
		Help: `The policy is a YAML file that IT security writes (see
policy/testdata/example.yaml). It is signed with a policy key kept offline;
agents pin the public half at enrollment and refuse any policy it did not sign,
or whose version is not newer than the one they run.`,
		Sub: []*cli.Command{
			{
				Name: "keygen", Args: "[--out FILE]", Run: policyKeygen,
				Summary: "create a policy signing key pair",
				Help: `Keygen creates an Ed25519 key pair: the private key (PEM PKCS #8, mode
0600) at --out and the public key next to it with the extension .pub. It never
replaces an existing file. Keep the private key offline; give the public key to
the server, which hands it to agents at enrollment.`,
			},
			{
				Name: "lint", Args: "POLICY.yaml...", Run: policyLint,
				Summary: "check policy files and list every problem with its line",
				Help: `Lint checks each policy file and prints every problem as
FILE:LINE: FIELD problem, on standard error. It exits 1 if any file has a
problem, and prints FILE: ok for each file without one.`,
			},
			{
				Name: "sign", Args: "--key FILE [--out FILE] POLICY.yaml", Run: policySign,
				Summary: "sign a policy into a bundle",
				Help: `Sign checks the policy as lint does, then writes a signed bundle: the
canonical policy and an Ed25519 signature, in one file. The bundle goes to
--out, by default the policy's name with the extension .bundle. If --out holds
a bundle already, it must be signed by the same key and the new policy must
have a higher version: signing an older version over a newer one is a rollback
and is refused.`,
			},
			{
				Name: "verify", Args: "--key FILE [--in-force N] BUNDLE", Run: policyVerify,
				Summary: "check a bundle's signature and print its version and hash",
				Help: `Verify checks a signed bundle against the policy public key, and that its
version is greater than --in-force (the version a device runs now; 0 for
none). It prints the version, name, issue time and SHA-256 of the policy.`,
			},
			{
				Name: "publish", Args: "--db DSN --key FILE BUNDLE", Run: policyPublish,
				Summary: "make a signed bundle the server's current policy",
				Help: `Publish checks a signed bundle against the policy public key and stores it as
the current policy, if its version is newer than the stored one. Every server on
the store serves it within half a minute, and each agent takes it at its next
heartbeat, checking the signature and the version itself.`,
			},
			{
				Name: "show", Args: "[--key FILE] POLICY.yaml|BUNDLE", Run: policyShow,
				Summary: "print the effective policy, defaults included, as YAML",
				Help: `Show prints the policy with every default written out, as the agent will
apply it. It reads a YAML policy or a signed bundle; with --key a bundle's
signature is checked first, without it a warning says it was not.`,
			},
		},
	}
}

func policyKeygen(e *cli.Env, args []string) error {
	out := e.Flags.String("out", "policy.key", "write the private key to `FILE`; the public key goes beside it as .pub")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	pubPath := strings.TrimSuffix(*out, ".key") + ".pub"
	for _, p := range []string{*out, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: keygen never replaces a key (move it away first)", p)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := atomicfile.CreateNew(*out, policy.MarshalPrivateKey(priv), 0o600); err != nil {
		return keyWriteError(err)
	}
	if err := atomicfile.CreateNew(pubPath, policy.MarshalPublicKey(pub), 0o644); err != nil {
		os.Remove(*out) // never used: leave no half-made pair behind
		return keyWriteError(err)
	}
	fmt.Fprintf(e.Stdout, "wrote %s (private: keep it offline) and %s (public)\nkey id %s\n", *out, pubPath, policy.KeyID(pub))
	return nil
}

func keyWriteError(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%v: keygen never replaces a key (move it away first)", err)
	}
	return err
}

func policyLint(e *cli.Env, args []string) error {
	files, err := e.Parse(args, 1, -1)
	if err != nil {
		return err
	}
	bad := 0
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(e.Stderr, "%v\n", err)
			bad++
			continue
		}
		_, err = policy.Parse(src)
		var invalid *policy.InvalidError
		if errors.As(err, &invalid) {
			for _, p := range invalid.Problems {
				fmt.Fprintf(e.Stderr, "%s:%d: %s\n", name, p.Line, strings.TrimPrefix(p.String(), fmt.Sprintf("line %d: ", p.Line)))
			}
			bad++
			continue
		}
		fmt.Fprintf(e.Stdout, "%s: ok\n", name)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d files have problems", bad, len(files))
	}
	return nil
}

func policySign(e *cli.Env, args []string) error {
	keyFile := e.Flags.String("key", "", "the policy private key `FILE` (from policy keygen)")
	out := e.Flags.String("out", "", "write the bundle to `FILE` (default: the policy's name with .bundle)")
	files, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *keyFile == "" {
		return cli.Usagef("policy sign: --key is required")
	}
	name := files[0]
	if *out == "" {
		*out = strings.TrimSuffix(strings.TrimSuffix(name, ".yaml"), ".yml") + ".bundle"
	}
	priv, err := readPrivateKey(*keyFile)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	p, err := policy.Parse(src)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if old, err := os.ReadFile(*out); err == nil {
		inForce, err := policy.Verify(old, pub, 0)
		if err != nil {
			return fmt.Errorf("%s exists but is not a bundle signed by this key (%v): move it away to sign a new one", *out, err)
		}
		if p.Version <= inForce.Version {
			return fmt.Errorf("%w: %s holds version %d; version %d is not newer, and agents would refuse it (raise version: in %s)",
				policy.ErrRollback, *out, inForce.Version, p.Version, name)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	bundle, err := policy.Sign(p, priv)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(*out, bundle, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "signed version %d of %q\nwrote %s\nsha256 %s\n", p.Version, p.Name, *out, p.Hash())
	return nil
}

func policyVerify(e *cli.Env, args []string) error {
	keyFile := e.Flags.String("key", "", "the policy public key `FILE` (.pub from policy keygen)")
	inForce := e.Flags.Int("in-force", 0, "the `VERSION` in force; the bundle must be newer")
	files, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *keyFile == "" {
		return cli.Usagef("policy verify: --key is required")
	}
	if *inForce < 0 {
		return cli.Usagef("policy verify: --in-force must not be negative")
	}
	pub, err := readPublicKey(*keyFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	p, err := policy.Verify(data, pub, *inForce)
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	fmt.Fprintf(e.Stdout, "%s: signature good (key %s)\nversion %d\nname    %s\nissued  %s\nsha256  %s\n",
		files[0], policy.KeyID(pub), p.Version, p.Name, p.IssuedAt.Format("2006-01-02 15:04:05Z07:00"), p.Hash())
	return nil
}

func policyShow(e *cli.Env, args []string) error {
	keyFile := e.Flags.String("key", "", "check a bundle against the policy public key `FILE`")
	files, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	var p *policy.Policy
	switch {
	case isBundle(data) && *keyFile != "":
		pub, err := readPublicKey(*keyFile)
		if err != nil {
			return err
		}
		if p, err = policy.Verify(data, pub, 0); err != nil {
			return fmt.Errorf("%s: %w", files[0], err)
		}
	case isBundle(data):
		b, err := policy.ParseBundle(data)
		if err != nil {
			return fmt.Errorf("%s: %w", files[0], err)
		}
		if p, err = policy.Decode(b.Payload); err != nil {
			return fmt.Errorf("%s: %w", files[0], err)
		}
		fmt.Fprintf(e.Stderr, "warning: %s: signature not checked (pass --key to check it)\n", files[0])
	default:
		if *keyFile != "" {
			return fmt.Errorf("%s is a YAML policy, not a signed bundle: --key does not apply", files[0])
		}
		if p, err = policy.Parse(data); err != nil {
			return fmt.Errorf("%s: %w", files[0], err)
		}
	}
	fmt.Fprintf(e.Stdout, "# Effective policy: version %d, sha256 %s\n", p.Version, p.Hash())
	_, err = e.Stdout.Write(policy.MarshalYAML(p))
	return err
}

func isBundle(data []byte) bool {
	return bytes.HasPrefix(data, []byte("casekeep-policy-bundle "))
}

func readPrivateKey(name string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	k, err := policy.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

func readPublicKey(name string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	k, err := policy.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

func policyPublish(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	keyFile := e.Flags.String("key", "", "the policy public key `FILE`")
	files, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *keyFile == "" {
		return cli.Usagef("policy publish: --key is required")
	}
	pub, err := readPublicKey(*keyFile)
	if err != nil {
		return err
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
		return publish(ctx, st, pub, files[0], slog.New(slog.NewTextHandler(e.Stdout, nil)))
	})
}
