package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/casekeep/casekeep/agent/local"
	"github.com/casekeep/casekeep/internal/wire"
)

// OpStatus is the local channel's operation that answers with the caller's
// [LocalStatus]; it takes no arguments.
const OpStatus = "status"

// ChannelAddr is the address of the local channel of the agent whose state
// folder is stateDir, for an agent that does not use the system's
// ([local.DefaultAddr]): on Unix the socket casekeep.sock in the folder
// beside the state folder, stateDir + "-channel" (the state folder itself
// stays private: the socket's folder is made 0755); on Windows a pipe
// named after the state folder.
func ChannelAddr(stateDir string) string {
	stateDir = filepath.Clean(stateDir)
	if runtime.GOOS == "windows" {
		// Paths are case-insensitive there: C:\X and c:\x are one folder.
		return local.DefaultAddr() + "-" + shortHash(strings.ToLower(stateDir))
	}
	return filepath.Join(stateDir+"-channel", "casekeep.sock")
}

// LocalStatus is what `casekeep status` over the local channel tells the
// account that asks: for root, SYSTEM or an administrator the agent's
// whole [Status] (Full); for anyone else only what concerns them (see
// [StatusFor]).
type LocalStatus struct {
	// Account is the caller as the service sees it (from the kernel).
	Account string `json:"account"`
	// Full is the whole status, for an admin only.
	Full *Status `json:"full,omitempty"`

	// The rest is set for everyone else.
	Lease        string    `json:"lease,omitempty"`        // one of the wire.Lease constants
	Why          string    `json:"why,omitempty"`          // why the vault is locked, in words
	OfflineUntil time.Time `json:"offline_until,omitzero"` // the offline copy's expiry, where known
	Enrolled     bool      `json:"enrolled"`               // the agent reports to a server
	Online       bool      `json:"online"`                 // its last attempt to reach the server succeeded
	LastAck      time.Time `json:"last_ack,omitzero"`      // the server's last acknowledgement
	Wiped        bool      `json:"wiped,omitempty"`        // the device was wiped (or is being)
	OwnCache     *OwnCache `json:"own_cache,omitempty"`    // nil: the agent cannot tell which cache is the caller's
	Advice       []string  `json:"advice,omitempty"`       // what to do, in words that name no file
}

// OwnCache counts the files in the caller's own cache.
type OwnCache struct {
	Sealed    int64 `json:"sealed"`
	Plaintext int64 `json:"plaintext"`
}

// StatusFor is the one rule of what account p may see of the agent's
// status s: an admin (root, SYSTEM, an elevated administrator) sees all
// of it; anyone else sees the vault key's state, whether the agent is
// enrolled and online, and, only when own is not nil (the agent knows
// which cache is theirs), the counts of their own cache. Never a file's
// name, a path, a case reference, a volume or another user's folder.
func StatusFor(p local.Peer, s Status, own *OwnCache) LocalStatus {
	out := LocalStatus{Account: p.String()}
	if p.Admin {
		out.Full = &s
		return out
	}
	out.Lease, out.Why, out.OfflineUntil = s.Keys.Lease, s.Keys.Why, s.Keys.OfflineUntil
	if h := s.Heartbeat; h != nil {
		out.Enrolled = true
		out.Online = !h.LastAck.IsZero() && h.LastError == ""
		out.LastAck = h.LastAck
	}
	out.Wiped = s.Wipe != nil
	// The advice of a status holding only what the caller may see.
	mine := Status{Keys: KeyStatus{Lease: s.Keys.Lease, Why: s.Keys.Why, OfflineUntil: s.Keys.OfflineUntil, ClockBehind: s.Keys.ClockBehind}, Wipe: s.Wipe}
	if h := s.Heartbeat; h != nil {
		mine.Heartbeat = &HeartbeatInfo{LastAck: h.LastAck}
	}
	if own != nil {
		c := *own
		out.OwnCache = &c
		mine.Vault.Plaintext = c.Plaintext
	}
	out.Advice = advise(&mine, time.Now())
	return out
}

// ServeLocal answers a request on the local channel as far as p may see.
func (a *Agent) ServeLocal(_ context.Context, p local.Peer, r local.Request) local.Response {
	switch r.Op {
	case OpStatus:
		// The agent has one cache and no map from accounts to caches yet:
		// no one but an admin gets counts.
		return local.Reply(StatusFor(p, a.Status(), nil))
	}
	return local.Fail(local.ErrUnknownOp)
}

// serveLocal opens the local channel and serves it until ctx is done; a
// failure to open it is logged and reported, and the agent runs on.
func (a *Agent) serveLocal(ctx context.Context, wg *sync.WaitGroup) {
	s, err := local.Listen(a.cfg.LocalSocket, a, local.Options{Log: a.log})
	if err != nil {
		a.log.Error("could not open the local channel: `casekeep status` cannot ask the agent", "addr", a.cfg.LocalSocket, "err", err)
		a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventAgentChannelFailed, Detail: wire.Clean(err.Error(), wire.MaxString)})
		a.notable()
		return
	}
	a.log.Info("local channel open", "addr", s.Addr())
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("the local channel failed", "err", err)
			a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventAgentChannelFailed, Detail: wire.Clean(err.Error(), wire.MaxString)})
		}
	}()
}

// shortHash is 16 hex digits of the SHA-256 of s.
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
