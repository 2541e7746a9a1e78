package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/api"
	"github.com/casekeep/casekeep/server/console"
	"github.com/casekeep/casekeep/server/store"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name: "serve", Args: "--db DSN [--data DIR] [--kek FILE] [--listen ADDR] [--policy BUNDLE] [--policy-key FILE] [--tls-cert FILE --tls-key FILE]",
		Summary: "run the server for agents",
		Help: `Serve runs the endpoint agents enroll with and report to, over HTTPS, keeping
what it hears in the store (--db). The data folder holds the server key (signs
replies; made on first start), the lease keys' key-encryption key (lease-kek:
the store holds every device's lease key sealed with it; made on first start,
or kept elsewhere with --kek FILE; keep it out of the database's folder and
backups and back it up apart: serve warns if it shares the SQLite database's
folder), the TLS certificate (self-signed and made on
first start unless --tls-cert names the council's own) and the policy public
key (policy.pub, or --policy-key). --policy publishes a signed bundle at start
if it is newer than the one stored. Several servers can share one PostgreSQL
store. SIGINT or SIGTERM stops it cleanly.`,
		Run: serve,
	}
}

// serverFiles are the files a server's data folder holds.
type serverFiles struct {
	data, policyKey, tlsCert, tlsKey *string
}

func addServerFlags(e *cli.Env) serverFiles {
	return serverFiles{
		data:      e.Flags.String("data", "/var/lib/casekeep-server", "the server's data `DIR` (keys and certificate)"),
		policyKey: e.Flags.String("policy-key", "", "the policy public key `FILE` (default DATA/policy.pub)"),
		tlsCert:   e.Flags.String("tls-cert", "", "a TLS certificate `FILE` to use instead of the self-signed one"),
		tlsKey:    e.Flags.String("tls-key", "", "the `FILE` holding --tls-cert's private key"),
	}
}

// tls loads or makes the TLS certificate and returns it with its pin.
func (f serverFiles) tls() (tls.Certificate, []byte, error) {
	if *f.tlsCert != "" || *f.tlsKey != "" {
		if *f.tlsCert == "" || *f.tlsKey == "" {
			return tls.Certificate{}, nil, cli.Usagef("--tls-cert and --tls-key go together")
		}
		return server.LoadTLS(*f.tlsCert, *f.tlsKey)
	}
	if err := os.MkdirAll(*f.data, 0o700); err != nil {
		return tls.Certificate{}, nil, err
	}
	return server.LoadOrCreateTLS(*f.data, nil)
}

func (f serverFiles) policyPub() (string, error) {
	if *f.policyKey != "" {
		return *f.policyKey, nil
	}
	return filepath.Join(*f.data, "policy.pub"), nil
}

func serve(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	files := addServerFlags(e)
	kekPath := e.Flags.String("kek", "", kekHelp)
	listen := e.Flags.String("listen", ":8443", "listen on `ADDR`")
	bundle := e.Flags.String("policy", "", "publish this signed policy `BUNDLE` at start if it is newer")
	writers := e.Flags.Int("writers", 0, "store transactions at once (default 1 for SQLite, 8 for PostgreSQL)")
	cpuProfile := e.Flags.String("cpuprofile", "", "write a CPU profile to `FILE` until the server stops (for tuning)")
	leaseBurst := e.Flags.Int("lease-burst", 10, "lease requests a device may make at once before --lease-every applies (`N`)")
	leaseEvery := e.Flags.Duration("lease-every", 30*time.Second, "then one lease request per device every `DURATION`; faster ones get 429 (agents renew once a heartbeat)")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	if *leaseBurst < 1 || *leaseEvery <= 0 {
		return cli.Usagef("--lease-burst must be at least 1 and --lease-every more than 0")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, isPG, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := os.MkdirAll(*files.data, 0o700); err != nil {
		return err
	}
	kf := kekFile(*kekPath, *files.data)
	if err := useKEK(st, kf, true); err != nil {
		return err
	}
	if warn := kekBesideDB(*dsn, kf); warn != "" {
		log.Warn(warn)
	}
	key, err := server.LoadOrCreateKey(*files.data)
	if err != nil {
		return err
	}
	cert, pin, err := files.tls()
	if err != nil {
		return err
	}
	pubFile, _ := files.policyPub()
	pub, err := readPublicKey(pubFile)
	if err != nil {
		return fmt.Errorf("the policy public key: %w (copy policy.pub into %s, or pass --policy-key)", err, *files.data)
	}
	if *bundle != "" {
		if err := publish(ctx, st, pub, *bundle, log); err != nil && !errors.Is(err, store.ErrRollback) {
			return err
		}
	}
	if *writers <= 0 {
		*writers = 1
		if isPG {
			*writers = 8
		}
	}
	srv, err := server.New(server.Config{Store: st, Key: key, PolicyKey: pub, Logger: log, Writers: *writers,
		LeaseBurst: *leaseBurst, LeaseEvery: *leaseEvery})
	if err != nil {
		return err
	}
	return listenAndServe(ctx, srv, key, *listen, cert, log, func(addr net.Addr) {
		log.Info("casekeep server listening", "addr", addr.String(), "db", redact(*dsn), "tls_pin", b64(pin))
	})
}

// handler is what the server serves on its TLS port: srv's endpoints for
// agents, the API for people under /api/v1/ and the console under
// /console/. key is the server's key; the console's cookie secret is
// derived from it.
func handler(srv *server.Server, key ed25519.PrivateKey, log *slog.Logger) (http.Handler, error) {
	people, err := api.New(api.Config{Store: srv.Store(), Policy: srv.Policy, Logger: log})
	if err != nil {
		return nil, err
	}
	web, err := console.New(console.Config{Store: srv.Store(), Policy: srv.Policy, Secret: consoleSecret(key), Logger: log})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle(api.Prefix, people.Handler())
	mux.Handle(console.Prefix, web.Handler())
	return mux, nil
}

// listenAndServe serves srv, the API and the console (see handler) over
// TLS on addr until ctx is done, then shuts down: it stops taking
// connections, lets requests in flight finish, and stops the ingest
// writers.
func listenAndServe(ctx context.Context, srv *server.Server, key ed25519.PrivateKey, addr string, cert tls.Certificate, log *slog.Logger, ready func(net.Addr)) error {
	h, err := handler(srv, key, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           h,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		srv.Run(runCtx)
		close(runDone)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.ServeTLS(ln, "", "") }()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = hs.Shutdown(shut)
		cancel()
	}
	cancelRun()
	<-runDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("casekeep server stopped")
	return err
}

// consoleSecret is the key of the console's cookie and CSRF HMACs: the
// same for every server sharing the data folder's key, so a session works
// on each of them, and new whenever the server key is.
func consoleSecret(key ed25519.PrivateKey) []byte {
	h := sha256.New()
	h.Write([]byte("casekeep console session key v1\x00"))
	h.Write(key.Seed())
	return h.Sum(nil)
}

// publish verifies a signed bundle and stores it as the current policy if
// it is newer than the stored one.
func publish(ctx context.Context, st store.Store, pub []byte, file string, log *slog.Logger) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	p, err := policy.Verify(data, pub, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := st.SetPolicy(ctx, p.Version, data); err != nil {
		if errors.Is(err, store.ErrRollback) {
			log.Info("policy not published: the store holds this version or a newer one", "version", p.Version)
		}
		return err
	}
	log.Info("policy published", "version", p.Version, "sha256", p.Hash())
	return nil
}
