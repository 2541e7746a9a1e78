package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/casekeep/casekeep/agent/outside"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
)

// StatusFile is the name, in the status folder, of the file where a
// running agent keeps its status for `casekeep status`.
const StatusFile = "status.json"

// StatusDir returns the folder beside the state folder where the agent
// keeps its status: the state folder itself is private to root or SYSTEM,
// and the status is for the person at the laptop to read.
func StatusDir(stateDir string) string {
	return filepath.Clean(stateDir) + "-status"
}

// statusEvery is how often the status file is rewritten when nothing
// changes, so a reader can tell a running agent from a stopped one.
const statusEvery = time.Minute

// maxStatusSize bounds what ReadStatus reads.
const maxStatusSize = 4 << 20

// Status is what the agent tells the person at the laptop: the vault, the
// volumes and sync folders it has seen, disk encryption, the last
// heartbeat the server acknowledged, and what they should do. File paths
// in it are for this laptop only; none of it leaves the device.
type Status struct {
	UpdatedAt      time.Time              `json:"updated_at"`
	PID            int                    `json:"pid"`
	AgentVersion   string                 `json:"agent_version"`
	PolicyVersion  int                    `json:"policy_version"`
	PolicyName     string                 `json:"policy_name"`
	Vault          VaultStatus            `json:"vault"`
	Volumes        []outside.VolumeStatus `json:"volumes"`
	SyncFolders    []outside.SyncFolder   `json:"sync_folders"`
	SweepFolders   []string               `json:"sweep_folders"`
	DiskEncryption wire.Check             `json:"disk_encryption"`
	Recent         []outside.Action       `json:"recent"`
	Heartbeat      *HeartbeatInfo         `json:"heartbeat,omitempty"` // nil when not enrolled
	Keys           KeyStatus              `json:"keys"`
	Wipe           *Wipe                  `json:"wipe,omitempty"` // the wipe under way or done, if any
	Advice         []string               `json:"advice"`
}

// KeyStatus is the state of the vault key: whether the device identity
// is open, and how the offline copy of the lease is held.
type KeyStatus struct {
	Lease        string    `json:"lease"`                  // one of the wire.Lease constants
	Why          string    `json:"why,omitempty"`          // why it is locked, in words
	OfflineCopy  string    `json:"offline_copy,omitempty"` // wire.OfflineTPM, OfflineOS or OfflineNone; "" when not enrolled
	OfflineUntil time.Time `json:"offline_until,omitzero"` // the offline copy's expiry, where known
	MemoryLocked bool      `json:"memory_locked"`          // the key in memory is locked against swap
	PostQuantum  bool      `json:"post_quantum"`           // the newest identity is hybrid post-quantum
	// TrustedTime is the floor of trusted time: the server's last signed
	// time, advanced while the agent runs (zero until the server stated
	// it); ClockBehind, if set, says how far the local clock is behind it
	// (a clock set back: no offline copy is kept or used meanwhile).
	TrustedTime time.Time `json:"trusted_time,omitzero"`
	ClockBehind string    `json:"clock_behind,omitempty"`
}

// VaultStatus summarises the cache.
type VaultStatus struct {
	Dir       string `json:"dir"`
	Files     int64  `json:"files"`
	Bytes     int64  `json:"bytes"`
	Plaintext int64  `json:"plaintext"`
	CaseRefs  int    `json:"case_refs"`
}

// HeartbeatInfo is the state of reporting to the server.
type HeartbeatInfo struct {
	Server    string    `json:"server"`
	LastAck   time.Time `json:"last_ack"`
	Waiting   int       `json:"waiting"`
	LastError string    `json:"last_error,omitempty"`
}

// ErrNoStatus means no agent has written a status in this state folder.
var ErrNoStatus = errors.New("no status: the casekeep agent has not run with this state folder")

// ReadStatus reads the status a running agent with the state folder
// stateDir keeps (in [StatusDir]).
func ReadStatus(stateDir string) (*Status, error) {
	f, err := os.Open(filepath.Join(StatusDir(stateDir), StatusFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoStatus
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStatusSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStatusSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", StatusFile, maxStatusSize)
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", StatusFile, err)
	}
	return &s, nil
}

// Status returns the agent's status now.
func (a *Agent) Status() Status {
	p := a.Policy()
	s := Status{
		UpdatedAt: time.Now().UTC(), PID: os.Getpid(), AgentVersion: AgentVersion(),
		PolicyVersion: p.Version, PolicyName: p.Name, Advice: []string{},
	}
	snap := a.snapshot()
	s.Vault = VaultStatus{Files: snap.Vault.Files, Bytes: snap.Vault.Bytes, Plaintext: snap.Vault.Plaintext, CaseRefs: len(snap.Vault.CaseRefs)}
	if v := a.Vault(); v != nil {
		s.Vault.Dir = v.Dir()
	}
	s.DiskEncryption = a.diskEncryption()
	out := a.out.Status()
	s.Volumes, s.SyncFolders, s.SweepFolders, s.Recent = out.Volumes, out.SyncFolders, out.SweepFolders, out.Recent
	if r := a.reporter; r != nil {
		rs := r.Status()
		s.Heartbeat = &HeartbeatInfo{Server: a.cfg.Enrollment.Server, LastAck: rs.LastAck, Waiting: rs.Spooled, LastError: rs.LastError}
	}
	ks := a.keyState()
	s.Keys = KeyStatus{Lease: ks.lease, Why: ks.why, OfflineCopy: ks.offline, OfflineUntil: ks.until, MemoryLocked: ks.memLocked, PostQuantum: ks.postQuantum,
		TrustedTime: ks.trusted.UTC().Truncate(time.Second)}
	if ks.trusted.IsZero() {
		s.Keys.TrustedTime = time.Time{}
	}
	if ks.clockBehind > 0 {
		s.Keys.ClockBehind = ks.clockBehind.Round(time.Second).String()
	}
	if w := a.wiping(); w != nil {
		c := *w
		s.Wipe = &c
	}
	s.Advice = advise(&s, time.Now())
	return s
}

// WipedStatus is the status of a device that was wiped, whose agent no
// longer runs its vault.
func WipedStatus(w *Wipe) Status {
	s := Status{UpdatedAt: time.Now().UTC(), PID: os.Getpid(), AgentVersion: AgentVersion(), Advice: []string{},
		Keys: KeyStatus{Lease: wire.LeaseWiped, OfflineCopy: wire.OfflineNone}, Wipe: w}
	s.Advice = advise(&s, s.UpdatedAt)
	return s
}

// IdleWiped is what the agent of a wiped device does: it keeps the status
// file saying so (see [WipedStatus]) until ctx is done.
func IdleWiped(ctx context.Context, stateDir string, w *Wipe) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		writeStatus(stateDir, WipedStatus(w), nil)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// advise says what the person at the laptop should do, in plain words.
func advise(s *Status, now time.Time) []string {
	out := []string{}
	if w := s.Wipe; w != nil {
		if w.Finished() {
			return append(out, fmt.Sprintf("This laptop was wiped by IT security on %s (command %s): casekeep holds no case files and no key on it any more. IT can enroll it again.", w.Done.Local().Format("2006-01-02 15:04"), w.Command))
		}
		return append(out, fmt.Sprintf("IT security is wiping this laptop (command %s): leave it switched on and connected until it is done.", w.Command))
	}
	switch s.Keys.Lease {
	case wire.LeaseLocked:
		why := s.Keys.Why
		if why == "" {
			why = "no lease from the server"
		}
		out = append(out, "The vault is locked ("+why+"): new files are still encrypted, but none can be opened until the server serves its key again. Connect to the council network, or contact IT security.")
	case wire.LeaseOffline:
		out = append(out, "The vault is open from its offline copy of the key until "+s.Keys.OfflineUntil.Local().Format("2006-01-02 15:04")+": connect to the council network before then to renew it.")
	}
	if s.Keys.ClockBehind != "" {
		out = append(out, "This laptop's clock is "+s.Keys.ClockBehind+" behind the casekeep server's time: set it right (automatic time). Until it is, the vault opens only while the server answers.")
	}
	if s.Vault.Plaintext > 0 {
		out = append(out, fmt.Sprintf("%d file(s) in the vault are not encrypted yet: close them in your editor so casekeep can seal them.", s.Vault.Plaintext))
	}
	switch s.DiskEncryption.Result {
	case "fail":
		out = append(out, "Disk encryption is off on this laptop: contact IT to turn it on (BitLocker, FileVault or LUKS).")
	case "unknown":
		out = append(out, "casekeep could not tell whether the disk is encrypted: IT security can check it.")
	}
	for _, v := range s.Volumes {
		if v.Removable && !v.Approved {
			out = append(out, fmt.Sprintf("%s is not an approved drive: do not copy case files to it (%s).", outside.VolumeLabel(v.Volume), v.Action))
		}
	}
	for _, f := range s.SyncFolders {
		if f.Swept {
			out = append(out, fmt.Sprintf("%s at %s is a personal cloud folder: keep case files out of it.", outside.SyncLabel(f.Folder), f.Path))
		}
	}
	for _, e := range s.Recent {
		if strings.HasPrefix(e.What, "found the case file") {
			out = append(out, "A case file was found outside the vault ("+e.What+"): move it into the vault or delete it.")
		}
	}
	if h := s.Heartbeat; h != nil {
		switch {
		case h.LastAck.IsZero():
			out = append(out, "This laptop has not reached the casekeep server yet: connect to the internet or the council network.")
		case now.Sub(h.LastAck) > 24*time.Hour:
			out = append(out, fmt.Sprintf("This laptop last reached the casekeep server %s ago: connect to the internet or the council network.", now.Sub(h.LastAck).Round(time.Hour)))
		}
	}
	return out
}

// statusChanged asks the status writer to write soon.
func (a *Agent) statusChanged() {
	select {
	case a.statusKick <- struct{}{}:
	default:
	}
}

// writeStatusLoop keeps the status file current until ctx is done: soon
// after a change (at most once a second) and every statusEvery.
func (a *Agent) writeStatusLoop(ctx context.Context) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		a.writeStatus()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.statusKick:
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func (a *Agent) writeStatus() { writeStatus(a.cfg.StateDir, a.Status(), a.log) }

func writeStatus(stateDir string, s Status, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		log.Warn("could not encode the status", "err", err)
		return
	}
	// Readable by the person at the laptop: it names their files, nothing
	// secret.
	dir := StatusDir(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Warn("could not make the status folder", "err", err)
		return
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, StatusFile), b, 0o644); err != nil {
		log.Warn("could not write the status file", "err", err)
	}
}
