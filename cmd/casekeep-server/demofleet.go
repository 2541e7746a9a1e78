package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// demoPrefix starts the ID of every simulated device.
const demoPrefix = "demo-"

func demoFleetCommand() *cli.Command {
	return &cli.Command{
		Name: "demo-fleet", Args: "--db DSN [--devices N] [--days D] [--force]",
		Summary: "fill a dev store with simulated laptops, to see the console with a fleet",
		Help: `Demo-fleet adds --devices simulated laptops (IDs starting "demo-") with --days
of history each, as the store keeps it: a state change every few hours,
events (files sealed, unapproved USB sticks, case files swept from Downloads,
disk encryption changes), case references held, some devices offline or
missing (some shut down first), some holding plaintext or without disk
encryption, one marked lost, one whose agent was removed, and two whose
agents stopped without saying so.
It is for a dev store: it refuses a store that holds real devices unless
--force, and running it again adds nothing (the devices exist).`,
		Run: demoFleet,
	}
}

func demoFleet(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	devices := e.Flags.Int("devices", 200, "how many simulated laptops (`N`)")
	days := e.Flags.Int("days", 30, "days of history each (`D`)")
	force := e.Flags.Bool("force", false, "add them even to a store that holds real devices")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	if *devices < 1 || *devices > 100_000 || *days < 1 || *days > 400 {
		return cli.Usagef("--devices must be 1 to 100000 and --days 1 to 400")
	}
	ctx := context.Background()
	st, _, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.Devices(ctx)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.ID, demoPrefix) && !*force {
			return fmt.Errorf("the store holds real devices (such as %s): demo-fleet is for a dev store (--force to add anyway)", r.ID)
		}
		if strings.HasPrefix(r.ID, demoPrefix) {
			fmt.Fprintf(e.Stdout, "the store already has a demo fleet (%s, ...): nothing added\n", r.ID)
			return nil
		}
	}
	start := time.Now()
	n, hbs, err := simulateFleet(ctx, st, *devices, *days, time.Now().UTC())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "added %d simulated devices with %d days of history (%d state changes) in %s\n", n, *days, hbs, time.Since(start).Round(time.Millisecond))
	return nil
}

// simulateFleet writes the demo fleet into st and returns how many devices
// and heartbeats it wrote.
func simulateFleet(ctx context.Context, st store.Store, devices, days int, now time.Time) (int, int, error) {
	rng := rand.New(rand.NewPCG(uint64(devices), uint64(days)))
	first := []string{"Sam", "Alex", "Priya", "Tom", "Aisha", "Jo", "Mei", "Owen", "Fatima", "Liam", "Grace", "Ravi"}
	last := []string{"Patel", "Jones", "Smith", "Khan", "Evans", "Brown", "Taylor", "Ahmed", "Wilson", "Davies"}
	type sim struct {
		id           string
		seq          uint64
		prev         []byte
		stopAt       time.Time // last heard from
		plaintext    bool
		noDisk       bool
		refs         []store.CaseCount
		sealedPerRef int
		stopping     string // what its last heartbeat says about stopping
		crashes      int    // runs that ended without a word, reported at its last heartbeat
	}
	var sims []*sim
	for i := range devices {
		s := &sim{id: fmt.Sprintf("%s%05d", demoPrefix, i), stopAt: now.Add(-time.Duration(rng.IntN(4)) * time.Minute)}
		switch r := rng.IntN(100); {
		case r < 5:
			s.stopAt = now.Add(-time.Duration(31+rng.IntN(20)) * 24 * time.Hour) // missing
		case r < 15:
			s.stopAt = now.Add(-time.Duration(1+rng.IntN(72)) * time.Hour) // offline
		}
		s.plaintext = rng.IntN(100) < 6
		s.noDisk = rng.IntN(100) < 4
		switch {
		case i == 1: // casekeep removed a few hours ago
			s.stopping = wire.StopUninstall
			s.stopAt = now.Add(-time.Duration(3+rng.IntN(20)) * time.Hour)
		case i == 2 || i == 3: // killed or crashed, and said so when it started again
			s.crashes = i
		case s.stopAt.Before(now.Add(-time.Hour)) && rng.IntN(2) == 0: // shut down before going offline
			s.stopping = wire.StopShutdown
		}
		for k := range 2 + rng.IntN(10) {
			s.refs = append(s.refs, store.CaseCount{Ref: fmt.Sprintf("LL-%06d", 100000+rng.IntN(devices*3)+k), Files: 1 + rng.IntN(40)})
		}
		sort.Slice(s.refs, func(a, b int) bool { return s.refs[a].Ref < s.refs[b].Ref })
		s.refs = dedupeRefs(s.refs)
		user := first[rng.IntN(len(first))] + " " + last[rng.IntN(len(last))]
		d := store.Device{ID: s.id, SigningKey: make([]byte, 32), Hostname: fmt.Sprintf("SC-LAPTOP-%04d", i), OS: "windows", Arch: "amd64",
			Serial: fmt.Sprintf("DEMO%06d", i), User: user, AgentVersion: "demo", EnrolledAt: now.Add(-time.Duration(days) * 24 * time.Hour)}
		if err := st.CreateDevice(ctx, d); err != nil {
			return 0, 0, err
		}
		sims = append(sims, s)
	}
	total := 0
	begin := now.Add(-time.Duration(days) * 24 * time.Hour)
	for _, s := range sims {
		var batch []store.Heartbeat
		beat := func(at time.Time, final bool) error {
			s.seq++
			body := []byte(fmt.Sprintf("demo heartbeat %s %d", s.id, s.seq))
			sum := sha256.Sum256(body)
			files := int64(0)
			for _, r := range s.refs {
				files += int64(r.Files)
			}
			state := store.State{Seq: s.seq, Hash: sum[:], SentAt: at, ReceivedAt: at, AgentVersion: "demo", PolicyVersion: 3,
				PolicyHash: "demo", SealedFiles: files, SealedBytes: files * 350_000, CaseRefs: len(s.refs), DiskEncryption: "pass", Compliant: true, Lease: "none"}
			var evs []store.Event
			if s.noDisk {
				state.DiskEncryption, state.Compliant = "fail", false
			}
			if s.plaintext && (final || rng.IntN(3) == 0) {
				state.PlaintextFiles, state.Compliant = int64(1+rng.IntN(3)), false
			}
			switch r := rng.IntN(40); {
			case r == 0:
				evs = append(evs, store.Event{Time: at, Type: wire.EventVolumeUnapproved, Detail: fmt.Sprintf(`usb 0951:1666 serial "DEMO%04d" label "KINGSTON" vfat`, rng.IntN(10000))})
			case r == 1:
				ref := s.refs[rng.IntN(len(s.refs))].Ref
				evs = append(evs, store.Event{Time: at, Type: wire.PrefixSweep + wire.OutsideQuarantined, CaseRef: ref, Detail: "in Downloads (rule: name)"})
			case r < 8:
				evs = append(evs, store.Event{Time: at, Type: wire.EventVaultSealed, CaseRef: s.refs[rng.IntN(len(s.refs))].Ref})
			}
			hb := store.Heartbeat{DeviceID: s.id, Seq: s.seq, Hash: sum[:], PrevHash: s.prev, Body: body, State: state, Events: evs, CaseRefs: s.refs}
			if final {
				hb.Stopping = s.stopping
				for k := range s.crashes {
					hb.Events = append(hb.Events, store.Event{Time: at.Add(-time.Duration(5+24*k) * time.Hour), Type: wire.EventUnannouncedStop,
						Detail: "the previous run ended without a stopping heartbeat"})
				}
			}
			batch = append(batch, hb)
			s.prev = sum[:]
			if len(batch) == 200 {
				if _, err := st.Ingest(ctx, batch); err != nil {
					return err
				}
				total += len(batch)
				batch = batch[:0]
			}
			return nil
		}
		for at := begin.Add(time.Duration(rng.IntN(60)) * time.Minute); at.Before(s.stopAt.Add(-time.Hour)); at = at.Add(time.Duration(2+rng.IntN(6)) * time.Hour) {
			if err := beat(at, false); err != nil {
				return 0, 0, err
			}
		}
		if err := beat(s.stopAt, true); err != nil { // its last heartbeat
			return 0, 0, err
		}
		if len(batch) > 0 {
			if _, err := st.Ingest(ctx, batch); err != nil {
				return 0, 0, err
			}
			total += len(batch)
		}
	}
	if len(sims) > 0 {
		lost := sims[0]
		at := lost.stopAt.Add(-time.Hour)
		if err := st.MarkLost(ctx, store.LostReport{DeviceID: lost.id, LostAt: at, DiscoveredAt: at.Add(30 * time.Minute), RecordedAt: now, By: "demo-fleet", Note: "simulated: left on a train"}); err != nil {
			return 0, 0, err
		}
	}
	return len(sims), total, nil
}

func dedupeRefs(in []store.CaseCount) []store.CaseCount {
	var out []store.CaseCount
	for _, r := range in {
		if len(out) > 0 && out[len(out)-1].Ref == r.Ref {
			continue
		}
		out = append(out, r)
	}
	return out
}
