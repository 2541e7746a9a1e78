package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/policy"
)

func vaultCommand() *cli.Command {
	return &cli.Command{
		Name:    "vault",
		Args:    "[--dir DIR] [--size BYTES] [--files N] [--large BYTES] [--rate N] [--protect N] [--scale N] [--idle DURATION] [--kills N] [--tmpfs]",
		Summary: "seal throughput, time to protect, scale, and crash kills",
		Help: `Vault measures the vault, as issue 3 asks:

  throughput  seal --files files of mixed sizes (1 KiB to 50 MiB, --size in all)
              against the stock age command encrypting the same files to the
              same recipients in a shell loop; then one --large file each way.
              Both are also timed with a final sync (age does not fsync; the
              vault fsyncs every file), and, with --tmpfs, on a memory
              filesystem where fsync costs nothing.
  protect     files written and closed at --rate per second; the time from
              close to the plaintext being gone (p50, p99).
  scale       --scale sealed files: the real casekeep agent's startup scan
              (first start, and restart with its index), its resident memory
              and CPU while idle for --idle.
  crash       the crash test with --kills SIGKILLs (go test, -crash.kills).

Sizes take KiB, MiB and GiB. The stock age command must be on PATH (Debian's
package is enough: the benchmark uses X25519 keys).`,
		Run: benchVault,
	}
}

type benchOpts struct {
	dir                  string
	size, large          int64
	files, protect, rate int
	scale, kills         int
	idle                 time.Duration
	tmpfs                bool
	workers              int
}

func benchVault(e *cli.Env, args []string) error {
	var o benchOpts
	var size, large string
	e.Flags.StringVar(&o.dir, "dir", "", "work in `DIR` (default: a new temporary folder, removed after)")
	e.Flags.StringVar(&size, "size", "1GiB", "total `BYTES` of the mixed files")
	e.Flags.IntVar(&o.files, "files", 1000, "how many mixed files")
	e.Flags.StringVar(&large, "large", "1GiB", "`BYTES` of the one large file (0 skips it)")
	e.Flags.IntVar(&o.rate, "rate", 50, "files written per second for time to protect")
	e.Flags.IntVar(&o.protect, "protect", 500, "files written for time to protect (0 skips it)")
	e.Flags.IntVar(&o.scale, "scale", 100_000, "sealed files for the scale test (0 skips it)")
	e.Flags.DurationVar(&o.idle, "idle", 30*time.Second, "how long to watch the idle agent's CPU")
	e.Flags.IntVar(&o.kills, "kills", 0, "run the crash test with this many kills (0 skips it)")
	e.Flags.BoolVar(&o.tmpfs, "tmpfs", false, "also measure throughput on a tmpfs (Linux, root)")
	e.Flags.IntVar(&o.workers, "workers", 0, "seal with this many workers (default: the vault's default)")
	only := e.Flags.String("only", "throughput,protect,scale,crash", "run only these `PARTS`, comma-separated")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	var err error
	if o.size, err = parseSize(size); err != nil {
		return cli.Usagef("--size: %v", err)
	}
	if o.large, err = parseSize(large); err != nil {
		return cli.Usagef("--large: %v", err)
	}
	if o.files < 1 {
		return cli.Usagef("--files must be at least 1")
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		switch p {
		case "throughput", "protect", "scale", "crash":
			parts[p] = true
		default:
			return cli.Usagef("--only: unknown part %q (throughput, protect, scale, crash)", p)
		}
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "casekeep-bench"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	w := e.Stdout
	fmt.Fprintf(w, "casekeep vault benchmark, %s/%s, %d CPUs, Go %s, in %s\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), o.dir)

	ageCmd, err := exec.LookPath("age")
	if err != nil {
		return fmt.Errorf("the age command is not on PATH (apt-get install age): %w", err)
	}
	keysDir := filepath.Join(o.dir, "keys")
	if err := state.Prepare(keysDir); err != nil {
		return err
	}
	device, err := keys.LoadOrCreate(keysDir, false, time.Now())
	if err != nil {
		return err
	}
	escrow, _ := age.GenerateX25519Identity()
	b := &bench{o: o, w: w, age: ageCmd, device: device, escrow: escrow}

	dirs := []string{filepath.Join(o.dir, "disk")}
	if !parts["throughput"] {
		dirs = nil
	} else if o.tmpfs {
		mem := filepath.Join(o.dir, "tmpfs")
		if err := mountTmpfs(mem, 4*(o.size+o.large)+(64<<20)); err != nil {
			return fmt.Errorf("--tmpfs: %w", err)
		}
		defer unmountTmpfs(mem)
		dirs = append(dirs, mem)
	}
	for _, d := range dirs {
		if err := b.throughput(d); err != nil {
			return err
		}
	}
	if o.protect > 0 && parts["protect"] {
		if err := b.timeToProtect(filepath.Join(o.dir, "protect")); err != nil {
			return err
		}
	}
	if o.scale > 0 && parts["scale"] {
		if err := b.scaleTest(filepath.Join(o.dir, "scale")); err != nil {
			return err
		}
	}
	if o.kills > 0 && parts["crash"] {
		if err := b.crash(); err != nil {
			return err
		}
	}
	return nil
}

type bench struct {
	o      benchOpts
	w      io.Writer
	age    string
	device *keys.File
	escrow *age.X25519Identity
}

func (b *bench) recipients() []age.Recipient {
	return []age.Recipient{b.escrow.Recipient()}
}

// mixedSizes returns n sizes, log-uniform between 1 KiB and 50 MiB, scaled
// to add up to about total.
func mixedSizes(n int, total int64, seed uint64) []int64 {
	rng := mrand.New(mrand.NewPCG(seed, seed))
	lo, hi := math.Log(1<<10), math.Log(50<<20)
	raw := make([]float64, n)
	sum := 0.0
	for i := range raw {
		raw[i] = math.Exp(lo + rng.Float64()*(hi-lo))
		sum += raw[i]
	}
	sizes := make([]int64, n)
	for i, r := range raw {
		s := int64(r * float64(total) / sum)
		sizes[i] = min(max(s, 1<<10), 50<<20)
	}
	return sizes
}

// writeFiles writes files of the given sizes with random content into dir,
// then syncs, so that timing starts with clean page cache and a quiet disk.
func writeFiles(dir string, sizes []int64, seed uint64) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rng := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	buf := make([]byte, 1<<20)
	past := time.Now().Add(-time.Hour)
	var names []string
	for i, s := range sizes {
		name := filepath.Join(dir, fmt.Sprintf("case-%04d.bin", i))
		f, err := os.Create(name)
		if err != nil {
			return nil, err
		}
		for left := s; left > 0; {
			n := min(left, int64(len(buf)))
			rng.Read(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return nil, err
			}
			left -= n
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		os.Chtimes(name, past, past)
		names = append(names, name)
	}
	syncAll()
	return names, nil
}

func syncAll() {
	if runtime.GOOS != "windows" {
		exec.Command("sync").Run()
	}
}

func sum(sizes []int64) int64 {
	var t int64
	for _, s := range sizes {
		t += s
	}
	return t
}

// ageLoop encrypts files with the age command, one process per file, in a
// shell loop, to the same recipients the vault uses.
func (b *bench) ageLoop(files []string, outDir string) (time.Duration, error) {
	os.MkdirAll(outDir, 0o755)
	script := `out=$1; r1=$2; r2=$3; shift 3
for f in "$@"; do "$AGE" -r "$r1" -r "$r2" -o "$out/$(basename "$f").age" "$f" || exit 1; done`
	args := append([]string{"-c", script, "sh", outDir, b.device.Recipient().(*age.X25519Recipient).String(), b.escrow.Recipient().String()}, files...)
	cmd := exec.Command("sh", args...)
	cmd.Env = append(os.Environ(), "AGE="+b.age)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	return time.Since(start), err
}

// sealAll seals every file in dir with a running vault, from start to the
// last plaintext gone.
func (b *bench) sealAll(dir string, n int) (time.Duration, error) {
	stateDir := dir + "-state"
	if err := state.Prepare(stateDir); err != nil {
		return 0, err
	}
	v, err := vault.Open(vault.Config{
		Dir: dir, Device: b.device, Escrow: b.recipients(), Store: state.OpenStore(stateDir, 10*time.Second),
		Workers: b.o.workers,
	})
	if err != nil {
		return 0, err
	}
	defer v.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { v.Run(ctx); close(done) }()
	for v.Stats().Sealed < n {
		time.Sleep(2 * time.Millisecond)
		if time.Since(start) > 30*time.Minute {
			cancel()
			return 0, fmt.Errorf("sealing did not finish: %+v", v.Stats())
		}
	}
	took := time.Since(start)
	cancel()
	<-done
	return took, nil
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }

func (b *bench) throughput(base string) error {
	where := "disk (" + base + ")"
	if strings.HasSuffix(base, "tmpfs") {
		where = "tmpfs: fsync costs nothing"
	}
	fmt.Fprintf(b.w, "== throughput on %s\n", where)
	type job struct {
		name  string
		sizes []int64
	}
	jobs := []job{{fmt.Sprintf("%d mixed files", b.o.files), mixedSizes(b.o.files, b.o.size, 1)}}
	if b.o.large > 0 {
		jobs = append(jobs, job{"one large file", []int64{b.o.large}})
	}
	for i, j := range jobs {
		total := sum(j.sizes)
		plain := filepath.Join(base, fmt.Sprintf("plain-%d", i))
		files, err := writeFiles(plain, j.sizes, uint64(i+1))
		if err != nil {
			return err
		}
		ageTook, err := b.ageLoop(files, filepath.Join(base, fmt.Sprintf("age-out-%d", i)))
		if err != nil {
			return fmt.Errorf("age loop: %w", err)
		}
		syncStart := time.Now()
		syncAll()
		ageSync := ageTook + time.Since(syncStart)
		os.RemoveAll(plain)
		os.RemoveAll(filepath.Join(base, fmt.Sprintf("age-out-%d", i)))
		syncAll()

		cache := filepath.Join(base, fmt.Sprintf("cache-%d", i))
		if _, err := writeFiles(cache, j.sizes, uint64(i+1)); err != nil {
			return err
		}
		ckTook, err := b.sealAll(cache, len(j.sizes))
		if err != nil {
			return err
		}
		os.RemoveAll(cache)
		os.RemoveAll(cache + "-state")
		fmt.Fprintf(b.w, "%s, %.0f MB:\n", j.name, float64(total)/1e6)
		fmt.Fprintf(b.w, "  age loop          %8.2fs %8.0f MB/s\n", ageTook.Seconds(), mbps(total, ageTook))
		fmt.Fprintf(b.w, "  age loop + sync   %8.2fs %8.0f MB/s\n", ageSync.Seconds(), mbps(total, ageSync))
		fmt.Fprintf(b.w, "  casekeep (fsync)  %8.2fs %8.0f MB/s   ratio %.2fx the age loop, %.2fx the age loop + sync\n",
			ckTook.Seconds(), mbps(total, ckTook), ageTook.Seconds()/ckTook.Seconds(), ageSync.Seconds()/ckTook.Seconds())
	}
	fmt.Fprintln(b.w)
	return nil
}

// testPolicy is a policy for the agent under test.
func (b *bench) testPolicy(cache string) (*policy.Policy, string, error) {
	src := fmt.Sprintf(`version: 1
name: bench
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths: {linux: %[1]s, macos: %[1]s, windows: 'C:\casekeep'}
  escrow_recipients: [%[2]s]
`, filepath.ToSlash(cache), b.escrow.Recipient())
	p, err := policy.Parse([]byte(src))
	return p, src, err
}

func (b *bench) timeToProtect(base string) error {
	fmt.Fprintf(b.w, "== time to protect: %d files written and closed at %d per second\n", b.o.protect, b.o.rate)
	cache, stateDir := filepath.Join(base, "cache"), filepath.Join(base, "state")
	os.MkdirAll(cache, 0o755)
	p, _, err := b.testPolicy(cache)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	sealedAt := map[string]time.Time{}
	events := vault.EventFunc(func(e vault.Event) {
		if e.Kind == vault.EventSealed {
			mu.Lock()
			sealedAt[strings.TrimSuffix(e.Path, ".age")] = time.Now()
			mu.Unlock()
		}
	})
	a, err := agent.Open(agent.Config{Policy: p, StateDir: stateDir, CacheDir: cache, Events: events, Homes: []string{}})
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(time.Second) // watches in place

	rng := mrand.New(mrand.NewPCG(7, 7))
	closedAt := map[string]time.Time{}
	interval := time.Second / time.Duration(b.o.rate)
	start := time.Now()
	buf := make([]byte, 256<<10)
	for i := range b.o.protect {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		rel := fmt.Sprintf("LL-%d/doc-%d.docx", i%20, i)
		os.MkdirAll(filepath.Join(cache, filepath.Dir(rel)), 0o755)
		f, err := os.Create(filepath.Join(cache, rel))
		if err != nil {
			return err
		}
		f.Write(buf[:1<<10+rng.IntN(len(buf)-1<<10)])
		f.Close()
		closedAt[rel] = time.Now()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(sealedAt)
		mu.Unlock()
		if n >= b.o.protect || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lat []time.Duration
	mu.Lock()
	for rel, c := range closedAt {
		if s, ok := sealedAt[rel]; ok {
			lat = append(lat, s.Sub(c))
		}
	}
	mu.Unlock()
	if len(lat) < b.o.protect {
		return fmt.Errorf("only %d of %d files were sealed within a minute", len(lat), b.o.protect)
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[int(math.Ceil(q*float64(len(lat))))-1] }
	fmt.Fprintf(b.w, "close to plaintext gone: p50 %v, p90 %v, p99 %v, max %v (targets: p50 < 300ms, p99 < 1s)\n",
		pct(0.50).Round(time.Millisecond), pct(0.90).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	fmt.Fprintf(b.w, "(the policy's quiet period, %v, is part of it: the vault waits for the writer to be done)\n\n", p.Vault.Debounce.Quiet)
	return nil
}

var scanLine = regexp.MustCompile(`msg="vault scan" files=(\d+) sealed=(\d+) .* took=(\S+)`)

func (b *bench) scaleTest(base string) error {
	n := b.o.scale
	fmt.Fprintf(b.w, "== scale: %d sealed files\n", n)
	cache, stateDir := filepath.Join(base, "cache"), filepath.Join(base, "state")
	// One sealed file, copied: every copy is a valid file sealed to this device.
	var sealed strings.Builder
	w, _ := age.Encrypt(&sealed, b.device.Recipient(), b.escrow.Recipient())
	io.WriteString(w, "a small case note")
	w.Close()
	for i := range n {
		dir := filepath.Join(cache, fmt.Sprintf("LL-%04d", i/100))
		if i%100 == 0 {
			os.MkdirAll(dir, 0o755)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("note-%d.txt.age", i)), []byte(sealed.String()), 0o600); err != nil {
			return err
		}
	}
	syncAll()
	if err := state.Prepare(stateDir); err != nil {
		return err
	}
	// The agent's own device identity: copy the bench's.
	idFile, _ := os.ReadFile(filepath.Join(b.dirOfKeys(), keys.FileName))
	os.WriteFile(filepath.Join(stateDir, keys.FileName), idFile, 0o600)
	_, src, err := b.testPolicy(cache)
	if err != nil {
		return err
	}
	policyFile := filepath.Join(base, "policy.yaml")
	os.WriteFile(policyFile, []byte(src), 0o644)
	bin := filepath.Join(base, "casekeep")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/casekeep/casekeep/cmd/casekeep").CombinedOutput(); err != nil {
		return fmt.Errorf("building casekeep: %v\n%s", err, out)
	}
	for round, what := range []string{"first start (builds the index, reads every header)", "restart (with its index)"} {
		cmd := exec.Command(bin, "run", "--policy", policyFile, "--state", stateDir, "--cache", cache)
		out, _ := cmd.StderrPipe()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		took, files, err := waitForScan(out)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		fmt.Fprintf(b.w, "%s: scan of %s files took %s (agent up to scan done: %v)\n", what, files, took, time.Since(start).Round(time.Millisecond))
		if round == 1 {
			time.Sleep(3 * time.Second) // settle: the watcher's own start rescan, GC
			rss := residentMiB(cmd.Process.Pid)
			if d := os.Getenv("CASEKEEP_BENCH_SMAPS"); d != "" {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", cmd.Process.Pid))
				os.WriteFile(d, b, 0o644)
			}
			cpu0 := cpuTime(cmd.Process.Pid)
			time.Sleep(b.o.idle)
			cpu1 := cpuTime(cmd.Process.Pid)
			fmt.Fprintf(b.w, "idle agent: resident memory %s (target < 40 MiB); CPU %.3f%% of one core over %v (%v used)\n",
				rss, 100*(cpu1-cpu0).Seconds()/b.o.idle.Seconds(), b.o.idle, (cpu1 - cpu0).Round(time.Millisecond))
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	fmt.Fprintln(b.w)
	return nil
}

func (b *bench) dirOfKeys() string { return filepath.Join(b.o.dir, "keys") }

// waitForScan reads the agent's log until its first scan is reported.
func waitForScan(r io.Reader) (took, files string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := scanLine.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, r)
			return m[3], m[1], nil
		}
	}
	return "", "", fmt.Errorf("the agent stopped before reporting a scan")
}

// residentMiB reads VmRSS from /proc (Linux).
func residentMiB(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "n/a (no /proc)"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "n/a"
}

// cpuTime reads user+system CPU time from /proc (Linux; clock ticks of 10ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func (b *bench) crash() error {
	fmt.Fprintf(b.w, "== crash: %d SIGKILLs while sealing\n", b.o.kills)
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestCrash$", "-v", "-timeout", "2h",
		"github.com/casekeep/casekeep/agent/vault", "-args", "-crash.kills="+strconv.Itoa(b.o.kills))
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "crash test:") || strings.HasPrefix(l, "--- ") || strings.Contains(l, "FAIL") {
			fmt.Fprintln(b.w, strings.TrimSpace(l))
		}
	}
	if err != nil {
		return fmt.Errorf("crash test failed: %v", err)
	}
	fmt.Fprintln(b.w)
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 64MiB", s)
	}
	return n * mult, nil
}
