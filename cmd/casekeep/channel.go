package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/local"
	"github.com/casekeep/casekeep/internal/wire"
)

// channelAddr is the local channel of the agent with the state folder
// stateDir: the system's (local.DefaultAddr) for the default state folder,
// else the one beside that folder (agent.ChannelAddr). `casekeep run` and
// `casekeep status` use the same rule, so `status --state DIR` reaches
// `run --state DIR`.
func channelAddr(stateDir string) string {
	if def, err := filepath.Abs(defaultStateDir()); err == nil && filepath.Clean(stateDir) == def {
		return local.DefaultAddr()
	}
	return agent.ChannelAddr(stateDir)
}

// askStatus asks the service at addr for the caller's status.
func askStatus(addr string) (*agent.LocalStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := local.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var ls agent.LocalStatus
	if err := c.Call(ctx, agent.OpStatus, nil, &ls); err != nil {
		return nil, err
	}
	return &ls, nil
}

// printLocalStatus shows what the service tells an account that is not an
// administrator.
func printLocalStatus(out io.Writer, ls *agent.LocalStatus, now time.Time) {
	w := safeWriter{out}
	fmt.Fprintf(w, "casekeep running (you are %s)\n\n", ls.Account)
	if ls.Wiped {
		fmt.Fprintln(w, "This device was wiped, or is being wiped, by IT security.")
	}
	switch ls.Lease {
	case wire.LeaseUnlocked:
		fmt.Fprintln(w, "Vault key: unlocked by the server")
	case wire.LeaseOffline:
		fmt.Fprintf(w, "Vault key: unlocked offline until %s (the server could not be reached)\n", ls.OfflineUntil.Local().Format("2006-01-02 15:04"))
	case wire.LeaseLocked:
		why := ""
		if ls.Why != "" {
			why = " (" + ls.Why + ")"
		}
		fmt.Fprintf(w, "Vault key: LOCKED%s: new files are still encrypted, none can be opened\n", why)
	default:
		fmt.Fprintf(w, "Vault key: %s\n", ls.Lease)
	}
	switch {
	case !ls.Enrolled:
		fmt.Fprintln(w, "Server: not enrolled (this agent reports to no server)")
	case ls.Online:
		fmt.Fprintf(w, "Server: online, last heartbeat acknowledged %s\n", ls.LastAck.Local().Format("2006-01-02 15:04"))
	case ls.LastAck.IsZero():
		fmt.Fprintln(w, "Server: not reached yet")
	default:
		fmt.Fprintf(w, "Server: not reached at the last attempt; last heartbeat acknowledged %s (%s ago)\n",
			ls.LastAck.Local().Format("2006-01-02 15:04"), now.Sub(ls.LastAck).Round(time.Second))
	}
	if c := ls.OwnCache; c != nil {
		fmt.Fprintf(w, "Your cache: %d sealed files", c.Sealed)
		if c.Plaintext > 0 {
			fmt.Fprintf(w, "; %d waiting to be sealed", c.Plaintext)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "Your cache: not shown (the service cannot yet tell which cache is yours; an administrator's `casekeep status` shows the whole vault)")
	}
	fmt.Fprintln(w)
	printAdvice(w, &agent.Status{Advice: ls.Advice})
}
