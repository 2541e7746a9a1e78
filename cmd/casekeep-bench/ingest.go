package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

func ingestCommand() *cli.Command {
	return &cli.Command{
		Name:    "ingest",
		Args:    "--db sqlite:PATH|postgres://... [--agents N] [--rate N] [--duration D] [--warmup D] [--lease]",
		Summary: "load the server with simulated agents: heartbeats per second, latency, memory",
		Help: `Ingest starts the real casekeep-server (built from this checkout) on loopback
with the store --db names (for PostgreSQL, a new database on that server, dropped
after), enrolls --agents simulated agents, each with its own key and TLS
connection, and has them send signed heartbeats (about 2 KB: posture, vault
summary with case references, events) at --rate in all, for --duration after
--warmup. It prints the heartbeats stored per second, the p50 and p99 latency,
errors, and the server's resident memory over the run; then it runs the store's
raw-insert benchmark with the same driver, the ceiling, and prints the ratio.
With --lease each agent also renews its vault lease after every heartbeat (a
signed lease request, served and logged by the store), and the lease requests
per second and their p50 and p99 are printed beside the heartbeat figures.`,
		Run: benchIngest,
	}
}

func benchIngest(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", "the store: `sqlite:PATH` or a postgres:// DSN (a new database is made on that server)")
	agents := e.Flags.Int("agents", 2000, "simulated agents (`N`)")
	rate := e.Flags.Int("rate", 3000, "heartbeats per second, in all (`N`)")
	duration := e.Flags.Duration("duration", time.Minute, "how long to measure")
	warmup := e.Flags.Duration("warmup", 10*time.Second, "how long to run before measuring")
	skipCeiling := e.Flags.Bool("no-ceiling", false, "skip the raw-insert ceiling")
	profile := e.Flags.String("server-cpuprofile", "", "have the server write a CPU profile to `FILE`")
	serverLog := e.Flags.String("server-log", "", "keep the server's log in `FILE`")
	lease := e.Flags.Bool("lease", false, "renew each agent's lease after every heartbeat")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	if *agents < 1 || *rate < 1 {
		return cli.Usagef("--agents and --rate must be at least 1")
	}
	w := e.Stdout
	work, err := os.MkdirTemp("", "casekeep-ingest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	backend := "sqlite"
	serverDSN := *dsn
	switch {
	case strings.HasPrefix(*dsn, "sqlite:"):
		if strings.TrimPrefix(*dsn, "sqlite:") == "" {
			serverDSN = "sqlite:" + filepath.Join(work, "bench.db")
		}
	case strings.HasPrefix(*dsn, "postgres://"), strings.HasPrefix(*dsn, "postgresql://"):
		backend = "postgres"
		fresh, drop, err := freshPostgres(*dsn)
		if err != nil {
			return err
		}
		defer drop()
		serverDSN = fresh
	default:
		return cli.Usagef("--db: sqlite:PATH (or sqlite: for a temporary file) or postgres://...")
	}

	// The server's data folder: its policy key and a signed policy.
	data := filepath.Join(work, "data")
	os.MkdirAll(data, 0o700)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	os.WriteFile(filepath.Join(data, "policy.pub"), policy.MarshalPublicKey(pub), 0o644)
	escrow, _ := age.GenerateX25519Identity()
	p, err := policy.Parse([]byte(fmt.Sprintf("version: 1\nname: bench\nissued_at: 2026-11-22T09:00:00Z\nvault:\n  cache_paths: {linux: /tmp/c}\n  escrow_recipients: [%s]\n", escrow.Recipient())))
	if err != nil {
		return err
	}
	bundle, _ := policy.Sign(p, priv)
	bundlePath := filepath.Join(work, "policy.bundle")
	os.WriteFile(bundlePath, bundle, 0o644)

	bin := filepath.Join(work, "casekeep-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/casekeep/casekeep/cmd/casekeep-server").CombinedOutput(); err != nil {
		return fmt.Errorf("building casekeep-server: %v\n%s", err, out)
	}
	serveArgs := []string{"serve", "--db", serverDSN, "--data", data, "--listen", "127.0.0.1:0", "--policy", bundlePath,
		// The agents here renew every few seconds, not every heartbeat of
		// minutes: the per-device rate limit (still in the path) is lifted.
		"--lease-every", "1ms", "--lease-burst", "1000"}
	if *profile != "" {
		serveArgs = append(serveArgs, "--cpuprofile", *profile)
	}
	srv := exec.Command(bin, serveArgs...)
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	var logTo io.Writer = io.Discard
	if *serverLog != "" {
		f, err := os.Create(*serverLog)
		if err != nil {
			return err
		}
		defer f.Close()
		logTo = f
	}
	addr, pin, err := waitListening(stderr, logTo)
	if err != nil {
		return err
	}
	out, err := exec.Command(bin, "token", "create", "--db", serverDSN, "--data", data, "--uses", strconv.Itoa(*agents), "--expires", "1h").Output()
	if err != nil {
		return fmt.Errorf("creating a token: %w", err)
	}
	token := strings.TrimSpace(string(out))
	base := "https://" + addr
	mode := ""
	if *lease {
		mode = ", each renewing its lease after every heartbeat"
	}
	fmt.Fprintf(w, "ingest benchmark: %s store, %d agents, %d heartbeats/s offered%s, %v measured after %v warm-up\n", backend, *agents, *rate, mode, *duration, *warmup)

	// Enroll the agents.
	start := time.Now()
	sims := make([]*simAgent, *agents)
	var enrollErr atomic.Value
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range sims {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := enrollSim(base, pin, token, i)
			if err != nil {
				enrollErr.Store(err)
				return
			}
			sims[i] = a
		}()
	}
	wg.Wait()
	if err, _ := enrollErr.Load().(error); err != nil {
		return fmt.Errorf("enrolling: %w", err)
	}
	fmt.Fprintf(w, "enrolled %d agents in %v\n", *agents, time.Since(start).Round(time.Millisecond))

	// Run them.
	interval := time.Duration(float64(time.Second) * float64(*agents) / float64(*rate))
	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*duration)
	defer cancel()
	measureFrom := time.Now().Add(*warmup)
	var mu sync.Mutex
	var beats, leases latencies
	var firstErr atomic.Value
	for _, a := range sims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(mrand.Int64N(int64(interval))))
			next := time.Now()
			for ctx.Err() == nil {
				t0 := time.Now()
				err := a.send(ctx, base)
				if ctx.Err() != nil {
					return
				}
				if t0.After(measureFrom) {
					beats.add(&mu, time.Since(t0), err, &firstErr)
				}
				if *lease && err == nil {
					t1 := time.Now()
					err := a.renew(ctx, base)
					if ctx.Err() != nil {
						return
					}
					if t1.After(measureFrom) {
						leases.add(&mu, time.Since(t1), err, &firstErr)
					}
				}
				next = next.Add(interval)
				if wait := time.Until(next); wait > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(wait):
					}
				} else {
					next = time.Now() // behind: go at once, do not burst to catch up
				}
			}
		}()
	}
	cpuStart, selfStart := cpuTime(srv.Process.Pid), selfCPU()
	// The server's memory, every 10 seconds.
	var rss []string
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				mu.Lock()
				rss = append(rss, residentMiB(srv.Process.Pid))
				mu.Unlock()
			}
		}
	}()
	wg.Wait()
	serverCPU, benchCPU := cpuTime(srv.Process.Pid)-cpuStart, selfCPU()-selfStart
	n := len(beats.ok)
	hbps := float64(n) / duration.Seconds()
	fmt.Fprintf(w, "stored %.0f heartbeats/s (%d in %v, each about %d bytes: posture, vault with 5 case references, 3 events); latency p50 %v, p99 %v, max %v; errors %d\n",
		hbps, n, *duration, sims[0].lastBody, beats.pct(0.5).Round(time.Microsecond*100), beats.pct(0.99).Round(time.Microsecond*100), beats.pct(1).Round(time.Millisecond), beats.errs)
	if *lease {
		fmt.Fprintf(w, "served %.0f lease renewals/s (%d in %v, each signed, decided and logged by the store); latency p50 %v, p99 %v, max %v; errors %d\n",
			float64(len(leases.ok))/duration.Seconds(), len(leases.ok), *duration, leases.pct(0.5).Round(time.Microsecond*100),
			leases.pct(0.99).Round(time.Microsecond*100), leases.pct(1).Round(time.Millisecond), leases.errs)
	}
	if err, _ := firstErr.Load().(error); err != nil {
		fmt.Fprintf(w, "first error: %v\n", err)
	}
	mu.Lock()
	fmt.Fprintf(w, "server resident memory every 10s: %s\n", strings.Join(rss, ", "))
	mu.Unlock()
	run := *warmup + *duration
	fmt.Fprintf(w, "CPU over the run (2 cores = 200%%): server %.0f%%, load generator %.0f%%\n",
		100*serverCPU.Seconds()/run.Seconds(), 100*benchCPU.Seconds()/run.Seconds())

	if !*skipCeiling {
		ceiling, err := rawInsertCeiling(backend, *dsn)
		if err != nil {
			fmt.Fprintf(w, "raw-insert ceiling: %v\n", err)
		} else {
			fmt.Fprintf(w, "raw insert of the same rows with the same driver: %.0f heartbeats/s; the server reaches %.0f%% of it\n", ceiling, 100*hbps/ceiling)
		}
	}
	return nil
}

// latencies are the times of the requests of one kind that succeeded,
// and how many failed.
type latencies struct {
	ok     []time.Duration
	errs   int
	sorted bool
}

func (l *latencies) add(mu *sync.Mutex, d time.Duration, err error, first *atomic.Value) {
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		l.errs++
		first.CompareAndSwap(nil, err)
		return
	}
	l.ok = append(l.ok, d)
}

// pct is the q quantile (0 to 1) of the times; call it when no add runs.
func (l *latencies) pct(q float64) time.Duration {
	if len(l.ok) == 0 {
		return 0
	}
	if !l.sorted {
		slices.Sort(l.ok)
		l.sorted = true
	}
	return l.ok[min(len(l.ok)-1, int(math.Ceil(q*float64(len(l.ok))))-1)]
}

var listening = regexp.MustCompile(`casekeep server listening"? addr=(\S+).* tls_pin=(\S+)`)

// waitListening reads the server's log until it says where it listens.
func waitListening(r io.Reader, logTo io.Writer) (string, []byte, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fmt.Fprintln(logTo, sc.Text())
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(logTo, r)
			pin, err := base64.RawURLEncoding.DecodeString(m[2])
			return m[1], pin, err
		}
	}
	return "", nil, errors.New("the server stopped before it listened")
}

// simAgent is a simulated enrolled agent.
type simAgent struct {
	id       string
	key      ed25519.PrivateKey
	client   *http.Client
	seq      uint64
	prev     string
	n        int
	lastBody int    // bytes in the last heartbeat sent
	keyID    string // of the lease key, from the enrollment
}

func enrollSim(base string, pin []byte, token string, i int) (*simAgent, error) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: wire.PinnedTLS(pin), MaxIdleConnsPerHost: 1}}
	body, _ := wire.Marshal(wire.EnrollRequest{V: 1, Token: token, SigningKey: key.Public().(ed25519.PublicKey),
		Hostname: fmt.Sprintf("sim-%05d", i), OS: "linux", Arch: "amd64", User: "bench", AgentVersion: "bench"})
	req, _ := http.NewRequest(http.MethodPost, base+wire.PathEnroll, bytes.NewReader(body))
	req.Header.Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignEnroll(key, body)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, rb)
	}
	reply, err := wire.DecodeEnrollReply(rb)
	if err != nil {
		return nil, err
	}
	if reply.Lease == nil {
		return nil, errors.New("the enrollment reply carries no lease")
	}
	return &simAgent{id: reply.DeviceID, key: key, client: client, keyID: reply.Lease.KeyID}, nil
}

// renew renews the agent's lease, as an agent does after each heartbeat
// the server answers.
func (a *simAgent) renew(ctx context.Context, base string) error {
	body, err := wire.Marshal(wire.LeaseRequest{V: wire.Version, DeviceID: a.id, Nonce: wire.NewNonce(), Time: time.Now().UTC(), KeyID: a.keyID, Want: wire.WantRenew})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.PathLease, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignLease(a.key, body)))
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("lease: %s: %s", resp.Status, bytes.TrimSpace(rb))
	}
	reply, err := wire.DecodeLeaseReply(rb)
	if err != nil {
		return err
	}
	if reply.Grant == nil {
		return fmt.Errorf("lease refused: %s", reply.Refused)
	}
	return nil
}

// send sends the agent's next heartbeat, a realistic one.
func (a *simAgent) send(ctx context.Context, base string) error {
	a.seq++
	a.n++
	now := time.Now().UTC()
	// A laptop holds the same few cases for weeks: its set changes now and
	// then (every 100 heartbeats here), not every time.
	refs := make([]wire.CaseCount, 5)
	for i := range refs {
		refs[i] = wire.CaseCount{Ref: fmt.Sprintf("LL-%06d", (a.n/100+i*7+len(a.id))%997), Files: 3 + i}
	}
	plaintext := int64(0)
	if a.n%10 == 0 {
		plaintext = 1 // a state change now and then
	}
	h := wire.Heartbeat{V: 1, DeviceID: a.id, Seq: a.seq, PrevHash: a.prev, CreatedAt: now, AgentVersion: "bench",
		Policy: wire.PolicyRef{Version: 1, Hash: strings.Repeat("ab", 32)},
		Posture: []wire.Check{{Name: "disk_encryption", Result: "pass", Evidence: "LUKS2 (aes-xts-plain64, 512-bit key) on / via dm-0 on nvme0n1p3; swap on dm-1, encrypted"},
			{Name: "firewall", Result: "pass", Evidence: "nftables active: inet filter input policy drop, 14 rules"},
			{Name: "screen_lock", Result: "unknown", Evidence: "no graphical session at the time of the check"},
			{Name: "os_updates", Result: "pass", Evidence: strings.Repeat("security updates applied within 14 days; ", 8)}},
		Vault:   wire.Vault{Files: 120, Bytes: 48 << 20, Plaintext: plaintext, CaseRefs: refs},
		Storage: wire.Storage{Volumes: 2}, Lease: "none",
		Events: []wire.Event{{Time: now, Type: wire.EventVaultSealed, CaseRef: refs[0].Ref, Detail: ""},
			{Time: now, Type: wire.EventVaultPlaintextFound, CaseRef: refs[1].Ref, Detail: "a file saved into the cache, sealed at once"},
			{Time: now, Type: wire.EventVolumeApproved, Detail: `usb 0781:5581 serial "4C530001120512103151" label "SANDISK" vfat (SanDisk Extreme) allowed as "Council encrypted USB"`}},
	}
	body, err := wire.Marshal(h)
	if err != nil {
		return err
	}
	a.lastBody = len(body)
	batch, _ := wire.Marshal(wire.Batch{V: 1, Heartbeats: []wire.SignedHeartbeat{{Body: body, Sig: wire.SignHeartbeat(a.key, body)}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.PathHeartbeats, bytes.NewReader(batch))
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.seq-- // not stored: send it again
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a.seq--
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(rb))
	}
	a.prev = wire.Hash(body)
	return nil
}

// freshPostgres makes a new database on the server dsn names, and returns
// its DSN and a function that drops it.
func freshPostgres(dsn string) (string, func(), error) {
	name := fmt.Sprintf("casekeep_bench_%d", time.Now().UnixNano())
	if out, err := exec.Command("psql", dsn, "-qc", "CREATE DATABASE "+name).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("creating database %s (needs psql): %v %s", name, err, out)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		exec.Command("psql", dsn, "-qc", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)").Run()
	}, nil
}

var benchMetric = regexp.MustCompile(`BenchmarkRawInsert\S*\s+\d+\s+.*?([\d.]+) heartbeats/s`)

// rawInsertCeiling runs the store's raw-insert benchmark for the backend.
func rawInsertCeiling(backend, dsn string) (float64, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkRawInsert$", "-benchtime", "5s",
		"github.com/casekeep/casekeep/server/store/"+backend)
	cmd.Env = os.Environ()
	if backend == "postgres" {
		cmd.Env = append(cmd.Env, "CASEKEEP_TEST_POSTGRES="+dsn)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v\n%s", err, out)
	}
	m := benchMetric.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no rows/s figure in:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
