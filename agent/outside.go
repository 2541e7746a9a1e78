package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/casekeep/casekeep/agent/classify"
	"github.com/casekeep/casekeep/agent/cloudsync"
	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/agent/sweep"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// How often the agent looks for sync folders when nothing else prompts it.
const syncFolderEvery = 15 * time.Minute

// outside is what the agent knows about storage outside the vault: the
// volumes mounted, the sync folders found, the folders swept, and what it
// did. It outlives a policy change, so a volume is reported when it
// arrives, not again each time the policy changes.
type outside struct {
	mu       sync.Mutex
	volumes  map[string]*volumeState // by mount point
	prev     map[string]*volumeState // volumes known under the previous policy, until they are listed again
	syncs    []SyncFolder
	syncSeen map[string]bool // provider+path reported
	sweeper  *sweep.Sweeper  // the current one, while runPolicy runs
	base     []sweep.Folder  // the sweep folders of the policy in force
}

type volumeState struct {
	VolumeStatus
	handled bool // the policy's action was taken (under the policy in force)
	action  policy.Action
	blocked bool // made read-only by the agent
	tries   int  // block attempts that failed
}

// VolumeStatus is a volume the agent has seen and what it decided.
type VolumeStatus struct {
	storage.Volume
	// Approved says an allow-list entry in policy approves it; ApprovedAs
	// is that entry's description.
	Approved   bool   `json:"approved"`
	ApprovedAs string `json:"approved_as,omitempty"`
	// Action is what the agent did about an unapproved removable volume,
	// in plain words; Problem says what went wrong, if anything.
	Action  string `json:"action,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// SyncFolder is a cloud-sync folder the agent found.
type SyncFolder struct {
	cloudsync.Folder
	// Swept says case files appearing in it are acted on (it is not an
	// approved council folder).
	Swept  bool          `json:"swept"`
	Action policy.Action `json:"action,omitempty"`
}

// volumeLabel names a volume for people: its label, or model, or mount
// point.
func volumeLabel(v storage.Volume) string {
	name := v.Label
	if name == "" {
		name = v.Model
	}
	if name == "" {
		name = filepath.Base(v.MountPoint)
	}
	if v.Bus == storage.BusUSB {
		return "USB drive " + name
	}
	return "drive " + name
}

// volumeDetail describes a volume for a heartbeat: bus, ids, serial and
// label (media ids are what a DPO needs; they name no person).
func volumeDetail(v storage.Volume) string {
	ids := v.VendorID + ":" + v.ProductID
	if ids == ":" {
		ids = "unknown ids"
	}
	d := fmt.Sprintf("%s %s serial %q label %q %s", orUnknown(string(v.Bus)), ids, v.Serial, v.Label, v.Filesystem)
	if v.Model != "" {
		d += " (" + v.Model + ")"
	}
	return d
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// homes returns the home folders whose sweep and sync folders the agent
// looks after: every user's when it runs as root or SYSTEM, else its own.
func (a *Agent) homes() []string {
	if a.cfg.Homes != nil {
		return a.cfg.Homes
	}
	if privileged() {
		if hs, err := cloudsync.Homes(); err == nil && len(hs) > 0 {
			return hs
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		return []string{h}
	}
	return nil
}

func privileged() bool {
	if runtime.GOOS == "windows" {
		h, _ := os.UserHomeDir()
		return strings.Contains(strings.ToLower(h), `systemprofile`)
	}
	return os.Geteuid() == 0
}

// sweepBase expands the policy's sweep folders for every home.
func (a *Agent) sweepBase(p *policy.Policy) []sweep.Folder {
	var out []sweep.Folder
	for _, home := range a.homes() {
		lookup := func(name string) (string, bool) {
			switch strings.ToUpper(name) {
			case "USERPROFILE", "HOME":
				return home, true
			}
			return os.LookupEnv(name)
		}
		for _, raw := range p.Storage.Sweep.Folders {
			dir, err := policy.ExpandPath(raw, runtime.GOOS, home, lookup)
			if err != nil {
				a.log.Warn("a sweep folder of the policy does not apply here", "folder", raw, "err", err)
				continue
			}
			out = append(out, sweep.Folder{Path: dir, Kind: sweep.KindSweep, Action: p.Storage.Sweep.Action, Label: filepath.Base(dir)})
		}
	}
	return out
}

// classifier turns the policy's classify rules into a sweep.Classifier.
func classifier(p *policy.Policy) (sweep.Classifier, error) {
	c, err := classify.New(classify.Rules{
		PathPatterns: p.Classify.PathPatterns,
		NamePattern:  p.Classify.NamePattern,
		Markers:      p.Classify.Markers,
		MaxBytes:     p.Classify.MaxBytes,
		// Text decompressed from documents: four times what is read, so a
		// 64 MiB policy limit cannot make one file cost gigabytes.
		MaxText: 4 * p.Classify.MaxBytes,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, name string, r io.ReaderAt, size int64) (sweep.Finding, error) {
		res, err := c.Classify(ctx, name, r, size)
		if err != nil {
			return sweep.Finding{}, err
		}
		return sweep.Finding{CaseFile: res.CaseFile, Rule: res.Rule, CaseRef: res.CaseRef}, nil
	}, nil
}

// runOutside runs, under policy p and with vault v, the sweeper, the
// volume monitor and the sync-folder finder until ctx is done.
func (a *Agent) runOutside(ctx context.Context, p *policy.Policy, v *vault.Vault) error {
	cl, err := classifier(p)
	if err != nil {
		return err
	}
	sw, err := sweep.New(sweep.Config{
		Classify: cl,
		Vault:    v,
		Events:   a.sweepEvent,
		DestDir: func(ref string) string {
			// A case reference from a file's name is a folder in the cache
			// only if the vault's pattern reads it back from that folder.
			if ref != "" && p.Vault.CaseRef(ref+"/x") == ref {
				return ref
			}
			return "Quarantine"
		},
		Rescan:  a.cfg.Rescan,
		Settle:  a.cfg.Settle,
		Logger:  a.log,
		Exclude: []string{v.Dir()},
	})
	if err != nil {
		return err
	}
	o := &a.out
	o.mu.Lock()
	o.sweeper = sw
	o.base = a.sweepBase(p)
	// The new monitor lists every volume again; those already reported
	// keep what was done about them (see volumeChange), and those gone
	// meanwhile are forgotten.
	o.prev, o.volumes = o.volumes, map[string]*volumeState{}
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.sweeper = nil
		o.mu.Unlock()
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	run(func() { sw.Run(ctx) })
	mon := storage.NewMonitor(storage.Options{Source: a.storage(), Logger: a.log})
	run(func() {
		if err := mon.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("the removable-media monitor stopped", "err", err)
		}
	})
	run(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ch, ok := <-mon.Changes():
				if !ok {
					return
				}
				a.volumeChange(ctx, p, ch)
			}
		}
	})
	run(func() {
		t := time.NewTicker(syncFolderEvery)
		defer t.Stop()
		for {
			a.findSyncFolders(ctx, p)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	<-ctx.Done()
	return nil
}

// volumeChange records a volume arriving or leaving and acts on it.
func (a *Agent) volumeChange(ctx context.Context, p *policy.Policy, ch storage.Change) {
	v := ch.Volume
	o := &a.out
	o.mu.Lock()
	if o.volumes == nil {
		o.volumes = map[string]*volumeState{}
	}
	old, known := o.volumes[v.MountPoint]
	if ch.Kind == storage.Left {
		delete(o.volumes, v.MountPoint)
		o.mu.Unlock()
		if known && old.Removable {
			a.event(wire.Event{Time: ch.Time, Type: wire.EventVolumeRemoved, Detail: volumeDetail(v)})
		}
		a.refreshSweep()
		a.statusChanged()
		return
	}
	entry, approved := storage.Approved(v, p.Storage.RemovableMedia.Allow)
	if known && old.Device == v.Device && old.Approved == approved {
		// The same volume, changed (made read-only, say): what was done
		// about it stands, unless a blocked volume was made writable again.
		reblock := old.handled && old.action == policy.ActionBlock && old.blocked && old.ReadOnly && !v.ReadOnly
		old.Volume = v
		if reblock {
			old.handled, old.blocked = false, false
		}
		o.mu.Unlock()
		if reblock {
			a.log.Warn("a blocked volume was made writable again; blocking it again", "mount", v.MountPoint)
			a.applyVolumes(ctx, p)
			return
		}
		a.statusChanged()
		return
	}
	vs := &volumeState{VolumeStatus: VolumeStatus{Volume: v, Approved: approved, ApprovedAs: entry.Description}}
	if pv, ok := o.prev[v.MountPoint]; ok && !known && pv.Device == v.Device {
		// Listed again after a policy change: already reported. What was
		// done stands if the new policy decides the same.
		delete(o.prev, v.MountPoint)
		if pv.Approved == approved && pv.action == p.Storage.RemovableMedia.Action {
			vs.handled, vs.action, vs.blocked, vs.Action, vs.Problem = pv.handled, pv.action, pv.blocked, pv.Action, pv.Problem
		}
		o.volumes[v.MountPoint] = vs
		o.mu.Unlock()
		a.applyVolumes(ctx, p)
		return
	}
	o.volumes[v.MountPoint] = vs
	o.mu.Unlock()
	if !known && v.Removable {
		if approved {
			a.event(wire.Event{Time: ch.Time, Type: wire.EventVolumeApproved, Detail: volumeDetail(v) + " allowed as " + fmt.Sprintf("%q", entry.Description)})
		} else {
			a.event(wire.Event{Time: ch.Time, Type: wire.EventVolumeUnapproved, Detail: volumeDetail(v)})
			a.notable()
		}
	}
	a.applyVolumes(ctx, p)
}

// applyVolumes takes the policy's action on every unapproved removable
// volume it has not yet acted on, and updates the swept folders.
func (a *Agent) applyVolumes(ctx context.Context, p *policy.Policy) {
	action := p.Storage.RemovableMedia.Action
	o := &a.out
	o.mu.Lock()
	var todo []*volumeState
	for _, vs := range o.volumes {
		if vs.Removable && !vs.Approved && !vs.handled && usableMount(vs.MountPoint) {
			vs.handled, vs.action = true, action
			todo = append(todo, vs)
		}
	}
	o.mu.Unlock()
	for _, vs := range todo {
		what, problem := "", ""
		label := volumeLabel(vs.Volume)
		switch action {
		case policy.ActionBlock:
			err := blockVolume(ctx, a.storage(), vs.Volume)
			switch {
			case err == nil:
				what = "made read-only: nothing can be copied to it"
				o.mu.Lock()
				vs.blocked = true
				o.mu.Unlock()
				a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventVolumeBlocked, Detail: volumeDetail(vs.Volume)})
				a.notify("USB drive blocked", label+" is not approved by your council: it was made read-only. Ask IT for an approved drive.")
			case errors.Is(err, storage.ErrBlockDeferred):
				what = "will be read-only from the next time it is plugged in (it is in use now)"
				a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventVolumeBlocked, Detail: volumeDetail(vs.Volume) + " (deferred: " + err.Error() + ")"})
				a.notify("Unapproved USB drive", label+" is not approved by your council: do not copy case files to it. It will be read-only once plugged in again.")
			default:
				what = "should be made read-only, but could not be"
				problem = err.Error()
				if errors.Is(err, storage.ErrBlockUnsupported) {
					problem = "this system cannot block it: " + err.Error()
				}
				a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventBlockFailed, Detail: volumeDetail(vs.Volume) + ": " + problem})
				a.notify("Unapproved USB drive", label+" is not approved by your council. Do not copy case files to it.")
				o.mu.Lock()
				vs.tries++
				tries := vs.tries
				o.mu.Unlock()
				if tries < maxBlockTries && !errors.Is(err, storage.ErrBlockUnsupported) {
					time.AfterFunc(time.Duration(tries)*blockRetry, func() {
						if ctx.Err() != nil {
							return
						}
						o.mu.Lock()
						vs.handled = false
						o.mu.Unlock()
						a.applyVolumes(ctx, p)
					})
				}
			}
		case policy.ActionSeal:
			what = "case files found on it are encrypted for the council"
			a.notify("Unapproved USB drive", label+" is not approved: case files on it will be encrypted so only the council can read them.")
		default:
			what = "reported to IT security"
			a.notify("Unapproved USB drive", label+" is not approved by your council. Do not copy case files to it.")
		}
		o.mu.Lock()
		vs.Action, vs.Problem = what, problem
		o.mu.Unlock()
	}
	a.refreshSweep()
	a.statusChanged()
}

// Block retries: a failed block is tried again after 1, 2, 3, 4 times
// blockRetry.
const (
	maxBlockTries = 5
	blockRetry    = time.Minute
	blockTimeout  = 30 * time.Second
)

// storage returns the storage source: the configured one, else this OS's.
func (a *Agent) storage() storage.Source {
	if a.cfg.Storage != nil {
		return a.cfg.Storage
	}
	return storage.OSSource()
}

// blockVolume runs src's Block with a deadline: a filesystem that hangs
// (a stalled FUSE daemon under the mount point) must not stop the agent
// handling other volumes. The call itself may linger until it returns.
func blockVolume(ctx context.Context, src storage.Source, v storage.Volume) error {
	ctx, cancel := context.WithTimeout(ctx, blockTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Block(ctx, v) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("making it read-only took longer than %s", blockTimeout)
	}
}

// usableMount reports whether a volume's mount point may be swept: never
// the root of the system.
func usableMount(mp string) bool {
	if mp == "" || !filepath.IsAbs(mp) {
		return false
	}
	clean := filepath.Clean(mp)
	return clean != "/" && clean != filepath.VolumeName(clean)+`\`
}

// findSyncFolders looks for cloud-sync folders and sweeps the ones that
// are not the council's.
func (a *Agent) findSyncFolders(ctx context.Context, p *policy.Policy) {
	approved := map[cloudsync.Provider][]string{}
	for _, acct := range p.Storage.SyncFolders.Approved {
		approved[cloudsync.Provider(acct.Provider)] = append(approved[cloudsync.Provider(acct.Provider)], acct.Account)
	}
	homes := a.homes()
	found, err := cloudsync.Find(ctx, cloudsync.Options{Homes: homes, ApprovedTenants: approved})
	if err != nil && len(found) == 0 {
		a.log.Debug("looking for sync folders", "err", err)
	}
	var syncs []SyncFolder
	var fresh []SyncFolder
	o := &a.out
	o.mu.Lock()
	if o.syncSeen == nil {
		o.syncSeen = map[string]bool{}
	}
	for _, f := range found {
		// A sync folder's place comes from files its user can write. The
		// agent sweeps it only strictly inside the home that named it and
		// owned by that home's owner; anything else (another user's home,
		// the whole home, a system folder) is reported, never swept.
		sf := SyncFolder{Folder: f, Swept: !f.Approved && !f.Link && f.InHome() && sameOwner(f.Home, f.Path)}
		if sf.Swept {
			sf.Action = p.Storage.SyncFolders.Action
		}
		syncs = append(syncs, sf)
		k := string(f.Provider) + "\x00" + f.Path
		if !o.syncSeen[k] {
			o.syncSeen[k] = true
			fresh = append(fresh, sf)
		}
	}
	o.syncs = syncs
	o.mu.Unlock()
	for _, sf := range fresh {
		kind := orUnknown(string(sf.Kind))
		typ := wire.EventSyncFolderFound
		if sf.Approved {
			typ = wire.EventSyncFolderApproved
		}
		a.event(wire.Event{Time: time.Now().UTC(), Type: typ, Detail: fmt.Sprintf("%s %s account %s", sf.Provider, kind, orUnknown(sf.Account))})
	}
	a.refreshSweep()
	a.statusChanged()
}

// refreshSweep gives the sweeper the folders to sweep now.
func (a *Agent) refreshSweep() {
	o := &a.out
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sweeper == nil {
		return
	}
	folders := slices.Clone(o.base)
	for _, sf := range o.syncs {
		if sf.Swept {
			folders = append(folders, sweep.Folder{Path: sf.Path, Kind: sweep.KindSync, Action: sf.Action,
				Label: syncLabel(sf.Folder)})
		}
	}
	for _, vs := range o.volumes {
		if !vs.Removable || vs.Approved || !vs.handled || !usableMount(vs.MountPoint) {
			continue
		}
		act := vs.action
		if act == policy.ActionBlock {
			act = policy.ActionAudit // a read-only volume: report what is on it
		}
		folders = append(folders, sweep.Folder{Path: vs.MountPoint, Kind: sweep.KindVolume, Action: act, Label: volumeLabel(vs.Volume)})
	}
	o.sweeper.SetFolders(folders)
}

func syncLabel(f cloudsync.Folder) string {
	name := map[cloudsync.Provider]string{
		cloudsync.Dropbox: "Dropbox", cloudsync.GoogleDrive: "Google Drive", cloudsync.OneDrive: "OneDrive",
		cloudsync.ICloud: "iCloud Drive", cloudsync.Box: "Box",
	}[f.Provider]
	if name == "" {
		name = string(f.Provider)
	}
	if f.Kind != "" {
		name += " (" + string(f.Kind) + ")"
	}
	return name
}

// sweepEvent reports what the sweeper found or did: in the log, in a
// heartbeat (kind, folder label, rule, case reference: never a file name)
// and to the person at the laptop.
func (a *Agent) sweepEvent(e sweep.Event) {
	prefix := map[sweep.Kind]string{sweep.KindSweep: wire.PrefixSweep, sweep.KindSync: wire.PrefixSync, sweep.KindVolume: wire.PrefixStorage}[e.Folder.Kind]
	detail := fmt.Sprintf("in %s (rule: %s)", e.Folder.Label, orUnknown(e.Rule))
	name := filepath.Base(e.Path)
	switch e.Kind {
	case sweep.EventQuarantined:
		a.log.Info("moved a case file into the vault", "from", e.Path, "to", e.Dest, "case_ref", e.CaseRef)
		a.notify("Case file moved into the vault", fmt.Sprintf("%q was in %s; casekeep moved it into your case-file vault (%s).", name, e.Folder.Label, e.Dest))
	case sweep.EventSealed:
		a.log.Info("sealed a case file where it was", "path", e.Path, "sealed", e.Dest, "case_ref", e.CaseRef)
		a.notify("Case file encrypted", fmt.Sprintf("%q on %s is a case file: casekeep encrypted it so only the council can read it.", name, e.Folder.Label))
	case sweep.EventFound:
		a.log.Warn("a case file is outside the vault", "path", e.Path, "folder", e.Folder.Label, "case_ref", e.CaseRef)
		a.notify("Case file outside the vault", fmt.Sprintf("%q in %s looks like a case file. Keep case files in the casekeep vault.", name, e.Folder.Label))
	case sweep.EventFailed:
		a.log.Warn("could not act on a case file", "path", e.Path, "action", e.Folder.Action, "reason", e.Reason)
		detail += ": " + failureKind(e.Err) // the error itself names files: it stays on the laptop
	}
	a.event(wire.Event{Time: e.Time.UTC(), Type: prefix + string(e.Kind), CaseRef: e.CaseRef, Detail: detail})
	a.notable()
	a.statusChanged()
}

// failureKind says why an action failed in words that name no file.
func failureKind(err error) string {
	switch {
	case errors.Is(err, vault.ErrChanging):
		return "in use or still changing"
	case errors.Is(err, vault.ErrRefused):
		return "refused (not a plain file, or a link on the way)"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrNotExist):
		return "gone"
	case errors.Is(err, syscall.ENOSPC):
		return "disk full"
	case errors.Is(err, syscall.EROFS):
		return "read-only volume"
	}
	return "i/o or other error"
}

// event queues a heartbeat event, if the agent reports.
func (a *Agent) event(e wire.Event) {
	if r := a.reporter; r != nil {
		r.Event(e)
	}
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(e)
	}
}

// notable asks for a heartbeat soon.
func (a *Agent) notable() {
	if r := a.reporter; r != nil {
		r.Notable()
	}
}

// notify tells the person at the laptop, without waiting.
func (a *Agent) notify(title, body string) {
	if a.notifier == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.notifier.Notify(ctx, title, body); err != nil {
			a.log.Debug("no desktop notification", "err", err)
		}
	}()
}

// storageSummary is the heartbeat's storage section: removable volumes
// mounted now, how many of them are unapproved, and the sync folders found
// that are not the council's.
func (a *Agent) storageSummary() wire.Storage {
	o := &a.out
	o.mu.Lock()
	defer o.mu.Unlock()
	var s wire.Storage
	for _, vs := range o.volumes {
		if vs.Removable {
			s.Volumes++
			if !vs.Approved {
				s.Unapproved++
			}
		}
	}
	for _, sf := range o.syncs {
		if !sf.Approved {
			s.SyncFolders++
		}
	}
	return s
}

// WritableFolders returns the folders the agent writes in under policy p:
// the cache, and the sweep folders of every home it looks after when the
// sweep does more than report. A service manager that confines the agent
// (systemd's ProtectHome) must leave these writable.
func (a *Agent) WritableFolders(p *policy.Policy) []string {
	var out []string
	cache := a.cfg.CacheDir
	if cache == "" {
		cache, _ = CacheDir(p)
	}
	if cache != "" {
		out = append(out, cache)
	}
	if p.Storage.Sweep.Action != policy.ActionAudit {
		for _, f := range a.sweepBase(p) {
			out = append(out, f.Path)
		}
	}
	return out
}
