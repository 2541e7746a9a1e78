package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/simfleet"
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
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
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
	})
}

// demoEvents are the events the demo devices report, the commoner more
// often: files sealed, unapproved USB sticks, case files swept from
// Downloads.
var demoEvents = []string{
	wire.EventVaultSealed, wire.EventVaultSealed, wire.EventVaultSealed, wire.EventVaultSealed, wire.EventVaultSealed,
	wire.EventVaultSealed, wire.EventVaultSealed, wire.EventVaultSealed, wire.EventVaultSealed, wire.EventVaultSealed,
	wire.EventVolumeUnapproved, wire.PrefixSweep + wire.OutsideQuarantined,
}

// demoDevice is what makes a demo device stand out.
type demoDevice struct {
	last      time.Time // when it was last heard from
	plaintext bool      // it holds plaintext now and then, and at the end
	noDisk    bool      // its disk is not encrypted
	stopping  string    // what its last heartbeat says about stopping
	crashes   int       // runs that ended without a word, reported at its last heartbeat
}

// simulateFleet writes the demo fleet into st, from the history of a
// simulated fleet (package simfleet) shaped to look like one, and returns
// how many devices and heartbeats it wrote.
func simulateFleet(ctx context.Context, st store.Store, devices, days int, now time.Time) (int, int, error) {
	rng := rand.New(rand.NewPCG(uint64(devices), uint64(days)))
	sims := make([]demoDevice, devices)
	for i := range sims {
		s := &sims[i]
		s.last = now.Add(-time.Duration(rng.IntN(4)) * time.Minute)
		switch r := rng.IntN(100); {
		case r < 5:
			s.last = now.Add(-time.Duration(31+rng.IntN(20)) * 24 * time.Hour) // missing
		case r < 15:
			s.last = now.Add(-time.Duration(1+rng.IntN(72)) * time.Hour) // offline
		}
		s.plaintext = rng.IntN(100) < 6
		s.noDisk = rng.IntN(100) < 4
		switch {
		case i == 1: // casekeep removed a few hours ago
			s.stopping = wire.StopUninstall
			s.last = now.Add(-time.Duration(3+rng.IntN(20)) * time.Hour)
		case i == 2 || i == 3: // killed or crashed, and said so when it started again
			s.crashes = i
		case s.last.Before(now.Add(-time.Hour)) && rng.IntN(2) == 0: // shut down before going offline
			s.stopping = wire.StopShutdown
		}
	}
	h := simfleet.New(simfleet.Options{
		Devices: devices, End: now, Span: time.Duration(days) * 24 * time.Hour, Prefix: demoPrefix, Events: demoEvents,
		Last: func(i int) time.Time { return sims[i].last },
		Shape: func(i int, hb *store.Heartbeat, last bool) {
			s, st := sims[i], &hb.State
			// One policy, no leases yet; the disk and plaintext as the
			// device is.
			st.PolicyVersion, st.PolicyHash, st.Lease = 3, "demo", "none"
			st.DiskEncryption, st.PlaintextFiles = "pass", 0
			if s.noDisk {
				st.DiskEncryption = "fail"
			}
			if s.plaintext && (last || rng.IntN(3) == 0) {
				st.PlaintextFiles = int64(1 + rng.IntN(3))
			}
			st.Compliant = st.DiskEncryption == "pass" && st.PlaintextFiles == 0
			if last {
				hb.Stopping = s.stopping
				for k := range s.crashes {
					hb.Events = append(hb.Events, store.Event{Time: hb.State.ReceivedAt.Add(-time.Duration(5+24*k) * time.Hour), Type: wire.EventUnannouncedStop,
						Detail: "the previous run ended without a stopping heartbeat"})
				}
			}
		},
	})
	first := []string{"Sam", "Alex", "Priya", "Tom", "Aisha", "Jo", "Mei", "Owen", "Fatima", "Liam", "Grace", "Ravi"}
	last := []string{"Patel", "Jones", "Smith", "Khan", "Evans", "Brown", "Taylor", "Ahmed", "Wilson", "Davies"}
	for i, d := range h.Devices() {
		d.Hostname, d.Serial, d.AgentVersion = fmt.Sprintf("SC-LAPTOP-%04d", i), fmt.Sprintf("DEMO%06d", i), "demo"
		d.User = first[rng.IntN(len(first))] + " " + last[rng.IntN(len(last))]
		if d.EnrolledAt = h.Start; sims[i].last.Before(h.Start) { // heard from before the history: enrolled before that
			d.EnrolledAt = sims[i].last.Add(-24 * time.Hour)
		}
		if err := st.CreateDevice(ctx, d); err != nil {
			return 0, 0, err
		}
	}
	stats, err := simfleet.Load(ctx, st, h, 200, nil)
	if err != nil {
		return 0, 0, err
	}
	if devices > 0 {
		// One is marked lost, as a person would mark it.
		at := sims[0].last.Add(-time.Hour)
		act := &actions.Actions{Store: st, Now: func() time.Time { return now }}
		if _, err := act.MarkLost(ctx, "demo-fleet", h.DeviceID(0), actions.Lost{LostAt: at, DiscoveredAt: at.Add(30 * time.Minute), Note: "simulated: left on a train"}); err != nil {
			return 0, 0, err
		}
	}
	return devices, stats.Heartbeats, nil
}
