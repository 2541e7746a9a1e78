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
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name: "dev", Args: "[--dir DIR] [--listen ADDR]",
		Summary: "run a server and an agent on this machine, to try casekeep",
		Help: `Dev runs casekeep on this machine: a server on loopback with an SQLite store,
and one agent enrolled with it whose cache is DIR/cache. The first run makes,
in DIR: a policy key, a dev escrow key (escrow.txt, X25519 so Debian's age can
open sealed files with it), a dev policy (policy.yaml; edit it and raise its
version to roll out a new one), a server key and a self-signed TLS certificate.
Later runs reuse them and pick up where they left off. Ctrl-C stops both.

Dev mode seeds nothing: the store holds only what the agent reports.`,
		Run: runDev,
	}
}

func runDev(e *cli.Env, args []string) error {
	dirFlag := e.Flags.String("dir", "casekeep-dev", "keep everything in `DIR`")
	listen := e.Flags.String("listen", "127.0.0.1:8443", "serve on `ADDR` (loopback)")
	kekPath := e.Flags.String("kek", "", "the lease keys' key-encryption key `FILE` (default DIR/server/lease-kek)")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d := &devSetup{dir: dir, log: log}
	bundle, pub, err := d.policy()
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "server")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	key, err := server.LoadOrCreateKey(data)
	if err != nil {
		return err
	}
	cert, pin, err := server.LoadOrCreateTLS(data, nil)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := useKEK(st, kekFile(*kekPath, data), true); err != nil {
		return err
	}
	if err := publish(ctx, st, pub, bundle, log); err != nil && !errors.Is(err, store.ErrRollback) {
		return err
	}
	srv, err := server.New(server.Config{Store: st, Key: key, PolicyKey: pub, Logger: log})
	if err != nil {
		return err
	}

	// The server, on loopback.
	addrc := make(chan net.Addr, 1)
	serverCtx, stopServer := context.WithCancel(context.Background())
	serverDone := make(chan error, 1)
	go func() {
		serverDone <- listenAndServe(serverCtx, srv, key, *listen, cert, log, func(a net.Addr) { addrc <- a })
	}()
	var url string
	select {
	case a := <-addrc:
		url = "https://" + a.String()
	case err := <-serverDone:
		stopServer()
		return fmt.Errorf("starting the server on %s: %w (is dev already running? --listen chooses another address)", *listen, err)
	}
	defer func() {
		stopServer()
		<-serverDone
	}()

	// The agent, enrolled on its first run.
	agentState := filepath.Join(dir, "agent")
	en, err := report.LoadEnrollment(agentState)
	if errors.Is(err, report.ErrNotEnrolled) {
		en, err = d.enroll(ctx, st, pin, url, agentState)
	}
	if err != nil {
		return err
	}
	p, err := en.LoadPolicy(agentState)
	if err != nil {
		return err
	}
	signing, err := report.LoadSigningKey(agentState)
	if err != nil {
		return err
	}
	cache, err := agent.CacheDir(p)
	if err != nil {
		return err
	}
	a, err := agent.Open(agent.Config{
		Policy: p, StateDir: agentState, Enrollment: en, SigningKey: signing, Logger: log.With("part", "agent"),
		// Report a file dropped into the cache when its seal settles (2s
		// later), with a cooldown of 2s rather than 30s between such
		// heartbeats, so the devices list shows it sealed within seconds
		// however often you try.
		Reporter: report.Config{NotableMin: 2 * time.Second},
		// The local channel `casekeep status --state DIR/agent` asks: in
		// the folder beside the state folder (DIR/agent-channel, made
		// 0755; the state folder stays 0700). DIR itself is 0700, so only
		// the account that runs dev reaches it: enough to try it.
		LocalSocket: agent.ChannelAddr(agentState),
	})
	if err != nil {
		return err
	}
	defer a.Close()
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()

	rel := func(p string) string {
		if r, err := filepath.Rel(mustGetwd(), p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	fmt.Fprintf(e.Stdout, `
casekeep dev mode is running.
  server  %s  (store: sqlite:%s)
  agent   device %s  (state: %s)
  cache   %s

Try it:
  mkdir -p %[6]s/LL-123456 && echo "case notes" > %[6]s/LL-123456/notes.txt
  ls %[6]s/LL-123456                      # notes.txt.age within a second
  go run ./cmd/casekeep-server devices --db sqlite:%[2]s
  go run ./cmd/casekeep-server lease log %[3]s --db sqlite:%[2]s   # every lease served to the agent
  go run ./cmd/casekeep ls --state %[4]s
  go run ./cmd/casekeep status --state %[4]s   # asks the agent over its local channel
  age -d -i %[7]s %[6]s/LL-123456/notes.txt.age

The API for people (roles it-security, dpo, auditor):
  go run ./cmd/casekeep-server user add me --role it-security --db sqlite:%[2]s
  go run ./cmd/casekeep-server token create --user me --db sqlite:%[2]s
  curl -k -H "Authorization: Bearer <token>" %[1]s/api/v1/devices

The web console (paste the token to sign in; the certificate is self-signed):
  %[1]s/console/

Ctrl-C stops the server and the agent; running dev again picks up where it left off.

`, url, rel(filepath.Join(dir, "server.db")), en.DeviceID, rel(agentState), cache, rel(cache), rel(filepath.Join(dir, "escrow.txt")))

	err = <-agentDone
	if err != nil {
		log.Error("the agent stopped", "err", err)
		return err
	}
	// Say goodbye: the server is stopping too, so the farewell is spooled
	// and sent at the next start, not counted as an unannounced stop.
	fctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	a.Farewell(fctx, wire.StopService)
	return nil
}

type devSetup struct {
	dir string
	log *slog.Logger
}

// policy makes (on the first run) the policy key, the dev escrow key and
// the dev policy, signs the policy if its version is newer than the
// bundle's, and returns the bundle's path and the policy public key.
func (d *devSetup) policy() (bundlePath string, pub ed25519.PublicKey, err error) {
	keyPath := filepath.Join(d.dir, "policy.key")
	if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", nil, err
		}
		if err := atomicfile.CreateNew(keyPath, policy.MarshalPrivateKey(priv), 0o600); err != nil {
			return "", nil, err
		}
		if err := atomicfile.CreateNew(filepath.Join(d.dir, "policy.pub"), policy.MarshalPublicKey(pub), 0o644); err != nil {
			return "", nil, err
		}
	}
	priv, err := readPrivateKey(keyPath)
	if err != nil {
		return "", nil, err
	}
	escrowPath := filepath.Join(d.dir, "escrow.txt")
	if _, err := os.Stat(escrowPath); errors.Is(err, fs.ErrNotExist) {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return "", nil, err
		}
		text := fmt.Sprintf("# casekeep dev escrow identity: opens every file the dev agent seals.\n# public key: %s\n%s\n", id.Recipient(), id)
		if err := atomicfile.CreateNew(escrowPath, []byte(text), 0o600); err != nil {
			return "", nil, err
		}
	}
	escrowText, err := os.ReadFile(escrowPath)
	if err != nil {
		return "", nil, err
	}
	ids, err := age.ParseIdentities(bytes.NewReader(escrowText))
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", escrowPath, err)
	}
	x, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return "", nil, fmt.Errorf("%s: the dev escrow identity must be an X25519 one", escrowPath)
	}
	recipient := x.Recipient()

	yamlPath := filepath.Join(d.dir, "policy.yaml")
	if _, err := os.Stat(yamlPath); errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.CreateNew(yamlPath, []byte(devPolicy(filepath.Join(d.dir, "cache"), recipient)), 0o644); err != nil {
			return "", nil, err
		}
	}
	src, err := os.ReadFile(yamlPath)
	if err != nil {
		return "", nil, err
	}
	p, err := policy.Parse(src)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", yamlPath, err)
	}
	bundlePath = filepath.Join(d.dir, "policy.bundle")
	pub = priv.Public().(ed25519.PublicKey)
	if old, err := os.ReadFile(bundlePath); err == nil {
		if q, err := policy.Verify(old, pub, 0); err == nil && q.Version >= p.Version {
			return bundlePath, pub, nil
		}
	}
	b, err := policy.Sign(p, priv)
	if err != nil {
		return "", nil, err
	}
	if err := atomicfile.WriteFile(bundlePath, b, 0o644); err != nil {
		return "", nil, err
	}
	d.log.Info("signed the dev policy", "version", p.Version)
	return bundlePath, pub, nil
}

// devPolicy is the first dev policy: the cache in the dev folder, the dev
// escrow key, heartbeats every 30 seconds so the server sees changes soon.
func devPolicy(cache string, escrow *age.X25519Recipient) string {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	linux, macos, windows := "/var/lib/casekeep-dev/cache", "/Users/Shared/casekeep-dev/cache", `C:\casekeep-dev\cache`
	switch runtime.GOOS {
	case "windows":
		windows = cache
	case "darwin":
		macos = cache
	default:
		linux = cache
	}
	return fmt.Sprintf(`# The casekeep dev policy. Edit it and raise version to roll out a new one
# (casekeep-server dev signs and publishes it at its next start).
version: 1
name: casekeep dev
issued_at: %s
vault:
  cache_paths:
    linux: %s
    macos: %s
    windows: %s
  escrow_recipients: [%s]   # casekeep-dev/escrow.txt
storage:
  # In dev mode case files found outside the cache (in your Downloads and
  # Desktop, personal cloud folders, USB drives) are only reported, never
  # moved: set quarantine or seal to see those actions.
  removable_media: {action: audit}
  sync_folders: {action: audit}
  sweep: {action: audit, folders: [~/Downloads, ~/Desktop]}
heartbeat:
  interval: 30s
  jitter: 3s
checks:
  required: []
`, time.Now().UTC().Format(time.RFC3339), quote(linux), quote(macos), quote(windows), escrow)
}

// enroll enrolls the dev agent with a one-use token.
func (d *devSetup) enroll(ctx context.Context, st store.Store, pin []byte, url, stateDir string) (*report.Enrollment, error) {
	tok, hash, err := wire.NewToken(pin)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if err := st.CreateToken(ctx, store.Token{Hash: hash, Uses: 1, ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now, Note: "dev agent"}); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	info := report.HostInfo{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, AgentVersion: agent.AgentVersion()}
	if u, err := user.Current(); err == nil {
		info.User = u.Username
	}
	en, _, err := report.Enroll(ctx, url, tok, info, stateDir)
	if err != nil {
		return nil, err
	}
	d.log.Info("dev agent enrolled", "device", en.DeviceID)
	return en, nil
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}
