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
		Name: "demo-fleet", Args: "--db DSN [--data DIR] [--devices N] [--days D] [--force]",
		Summary: "fill a dev store with simulated laptops, to see the console with a fleet",
		Help: `Demo-fleet adds --devices simulated laptops (IDs starting "demo-") with --days
of history each, as the store keeps it: a state change every few hours,
events (files sealed, unapproved USB sticks, case files swept from Downloads,
disk encryption changes), case references held, some devices offline or
missing (some shut down first), some holding plaintext or without disk
encryption, one marked lost (served its lease after the loss, since it was
marked lost late, then refused) with a wipe pending, one whose agent was
removed, and two whose agents stopped without saying so. Each device has a
lease log: its first lease at enrollment and a renewal every five minutes in
the six hours before it was last heard from; most hold their offline copy in
a TPM, some in the OS only, a few keep none.
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
	data := e.Flags.String("data", "", dataHelp)
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	if *devices < 1 || *devices > 100_000 || *days < 1 || *days > 400 {
		return cli.Usagef("--devices must be 1 to 100000 and --days 1 to 400")
	}
	return withKeyStore(*dsn, *data, "", true, func(ctx context.Context, st store.Store) error {
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
	offline   string    // how it holds its offline copy of the lease
}

// simulateFleet writes the demo fleet into st, from the history of a
// simulated fleet (package simfleet) shaped to look like one, and returns
// how many devices and heartbeats it wrote.
func simulateFleet(ctx context.Context, st store.Store, devices, days int, now time.Time) (int, int, error) {
	rng := rand.New(rand.NewPCG(uint64(devices), uint64(days)))
	copies := rand.New(rand.NewPCG(uint64(devices), 0x6c65617365)) // how each holds its offline copy
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
		switch r := copies.IntN(100); {
		case r < 5:
			s.offline = wire.OfflineNone
		case r < 20:
			s.offline = wire.OfflineOS
		default:
			s.offline = wire.OfflineTPM
		}
	}
	h := simfleet.New(simfleet.Options{
		Devices: devices, End: now, Span: time.Duration(days) * 24 * time.Hour, Prefix: demoPrefix, Events: demoEvents,
		Last: func(i int) time.Time { return sims[i].last },
		Shape: func(i int, hb *store.Heartbeat, last bool) {
			s, st := sims[i], &hb.State
			// One policy, the vault unlocked by a lease; the offline
			// copy, the disk and plaintext as the device is.
			st.PolicyVersion, st.PolicyHash, st.Lease, st.OfflineCopy = 3, "demo", wire.LeaseUnlocked, s.offline
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
	for i := range devices {
		if err := demoLeases(ctx, st, h.DeviceID(i), sims[i].last, i == 0, rng); err != nil {
			return 0, 0, err
		}
	}
	if devices > 0 {
		// One is marked lost, as a person would mark it, and a wipe
		// requested, pending while it is away; when it asks for its
		// lease again, it is refused.
		id, at := h.DeviceID(0), sims[0].last.Add(-time.Hour)
		act := &actions.Actions{Store: st, Now: func() time.Time { return now }}
		if _, err := act.MarkLost(ctx, "demo-fleet", id, actions.Lost{LostAt: at, DiscoveredAt: at.Add(30 * time.Minute), Note: "simulated: left on a train"}); err != nil {
			return 0, 0, err
		}
		if _, err := act.RequestWipe(ctx, "demo-fleet", id); err != nil {
			return 0, 0, err
		}
		if _, err := st.ServeLeases(ctx, []store.LeaseRequest{{DeviceID: id, Kind: store.LeaseKindKey, At: now, Window: demoWindow,
			Source: "203.0.113.7:51022", Nonce: wire.NewNonce(), AgentTime: now}}); err != nil {
			return 0, 0, err
		}
	}
	return devices, stats.Heartbeats, nil
}

// demoWindow is the offline window of the demo fleet's leases (the
// policy's default).
const demoWindow = 72 * time.Hour

// demoLeases gives a device its lease log: the first lease at enrollment,
// the key when its agent last started, six hours before it was last heard
// from, and a renewal every five minutes after, from its home or office
// address (one lost, in its last hour after the loss, from another).
func demoLeases(ctx context.Context, st store.Store, id string, last time.Time, lost bool, rng *rand.Rand) error {
	row, err := st.Device(ctx, id)
	if err != nil {
		return err
	}
	home := fmt.Sprintf("10.%d.%d.%d:%d", 20+rng.IntN(10), rng.IntN(256), 1+rng.IntN(254), 49152+rng.IntN(16000))
	reqs := []store.LeaseRequest{{DeviceID: id, Kind: store.LeaseKindEnroll, At: row.EnrolledAt, Window: demoWindow, Source: home}}
	from := last.Add(-6 * time.Hour)
	if from.Before(row.EnrolledAt) {
		from = row.EnrolledAt.Add(time.Minute)
	}
	for at, kind := from, store.LeaseKindKey; !at.After(last); at, kind = at.Add(simfleet.Slot), store.LeaseKindRenew {
		src := home
		if lost && at.After(last.Add(-time.Hour)) {
			src = "203.0.113.7:50311" // the lost laptop, after its loss
		}
		reqs = append(reqs, store.LeaseRequest{DeviceID: id, Kind: kind, At: at, Window: demoWindow, Source: src, Nonce: wire.NewNonce(), AgentTime: at})
	}
	_, err = st.ServeLeases(ctx, reqs)
	return err
}
