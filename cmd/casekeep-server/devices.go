package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
)

func devicesCommand() *cli.Command {
	return &cli.Command{
		Name: "devices", Args: "--db DSN [--json]",
		Summary: "list enrolled devices and whether they are heard from",
		Help: `Devices lists every enrolled device: its ID, hostname and user, when it was
last heard from and whether it is online, offline or missing (by the current
policy's heartbeat interval and missing days), its plaintext and sealed file
counts, the policy version it runs, and its vault key: the lease state it
reported (unlocked, offline, locked, wiped, plaintext, none) with how it holds
its offline copy (tpm, os, none), and until when the last lease the server
served it lets it open its vault without the server.`,
		Run: listDevices,
	}
}

type deviceView struct {
	ID            string    `json:"id"`
	Hostname      string    `json:"hostname"`
	User          string    `json:"user"`
	OS            string    `json:"os"`
	Serial        string    `json:"serial,omitempty"`
	LastSeen      time.Time `json:"last_seen,omitzero"`
	Liveness      string    `json:"liveness"`
	Compliant     bool      `json:"compliant"`
	Plaintext     int64     `json:"plaintext_files"`
	Sealed        int64     `json:"sealed_files"`
	CaseRefs      int       `json:"case_refs"`
	PolicyVersion int       `json:"policy_version"`
	Revoked       bool      `json:"revoked,omitempty"`
	// Agent is the agent's state (running, stopped, shutdown, removed or
	// never); UnannouncedStops counts its runs that ended without saying so.
	Agent            string `json:"agent"`
	UnannouncedStops int64  `json:"unannounced_stops"`
	// Lease is the vault key's state as the device reported it, and
	// OfflineCopy how it holds its local copy of the lease; LeaseServedAt
	// is when the server last served it a lease, LeaseUntil until when
	// that lets it open its vault without the server.
	Lease         string    `json:"lease"`
	OfflineCopy   string    `json:"offline_copy"`
	LeaseServedAt time.Time `json:"lease_served_at,omitzero"`
	LeaseUntil    time.Time `json:"lease_until,omitzero"`
}

func listDevices(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	asJSON := e.Flags.Bool("json", false, "print JSON, one array of objects")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
		rows, err := st.Devices(ctx)
		if err != nil {
			return err
		}
		// Liveness is judged by the policy in force; the store holds it signed,
		// and it is only read here.
		var p *policy.Policy
		if _, bundle, err := st.Policy(ctx); err == nil {
			if b, err := policy.ParseBundle(bundle); err == nil {
				p, _ = policy.Decode(b.Payload)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := time.Now()
		views := make([]deviceView, len(rows))
		for i, r := range rows {
			d := server.DeviceOf(r, p, now)
			views[i] = deviceView{
				ID: d.ID, Hostname: d.Hostname, User: d.User, OS: d.OS, Serial: d.Serial, LastSeen: d.State.ReceivedAt,
				Liveness: string(d.Liveness), Compliant: d.State.Compliant, Plaintext: d.State.PlaintextFiles, Sealed: d.State.SealedFiles,
				CaseRefs: d.State.CaseRefs, PolicyVersion: d.State.PolicyVersion, Revoked: d.Revoked(),
				Agent: string(d.Status.State), UnannouncedStops: d.Status.UnannouncedStops,
				Lease: d.State.Lease, OfflineCopy: d.State.OfflineCopy, LeaseServedAt: d.Lease.At, LeaseUntil: d.Lease.Until,
			}
		}
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(views)
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tHOSTNAME\tUSER\tLAST SEEN\tLIVENESS\tAGENT\tPLAINTEXT\tSEALED\tPOLICY\tVAULT KEY\tLEASE UNTIL")
		for _, v := range views {
			seen := "never"
			if !v.LastSeen.IsZero() {
				seen = v.LastSeen.Local().Format("2006-01-02 15:04:05")
			}
			if v.Revoked {
				v.Liveness += " (revoked)"
			}
			agent := v.Agent
			if v.UnannouncedStops > 0 {
				agent += fmt.Sprintf(" (%d unannounced stops)", v.UnannouncedStops)
			}
			key := v.Lease
			if key == "" {
				key = "-"
			}
			if v.OfflineCopy != "" {
				key += " (offline copy: " + v.OfflineCopy + ")"
			}
			until := "never served"
			if !v.LeaseUntil.IsZero() {
				until = v.LeaseUntil.Local().Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\tv%d\t%s\t%s\n", v.ID, v.Hostname, v.User, seen, v.Liveness, agent, v.Plaintext, v.Sealed,
				v.PolicyVersion, key, until)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%d devices\n", len(views))
		return nil
	})
}
