package outside

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// VolumeStatus is a volume the watcher has seen and what it decided.
type VolumeStatus struct {
	storage.Volume
	// Approved says an allow-list entry in policy approves it; ApprovedAs
	// is that entry's description.
	Approved   bool   `json:"approved"`
	ApprovedAs string `json:"approved_as,omitempty"`
	// Action is what the watcher did about an unapproved removable volume,
	// in plain words; Problem says what went wrong, if anything.
	Action  string `json:"action,omitempty"`
	Problem string `json:"problem,omitempty"`
}

type volumeState struct {
	VolumeStatus
	handled bool // the policy's action was taken (under the policy in force)
	action  policy.Action
	blocked bool // made read-only by the watcher
	tries   int  // block attempts that failed
}

// VolumeLabel names a volume for people: its label, or model, or mount
// point.
func VolumeLabel(v storage.Volume) string {
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

// volumeChange records a volume arriving or leaving and acts on it.
func (w *Watcher) volumeChange(ctx context.Context, p *policy.Policy, ch storage.Change) {
	v := ch.Volume
	w.mu.Lock()
	old, known := w.volumes[v.MountPoint]
	if ch.Kind == storage.Left {
		delete(w.volumes, v.MountPoint)
		w.mu.Unlock()
		if known && old.Removable {
			w.event(wire.Event{Time: ch.Time, Type: wire.EventVolumeRemoved, Detail: volumeDetail(v)})
		}
		w.refreshSweep()
		w.changed()
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
		w.mu.Unlock()
		if reblock {
			w.log.Warn("a blocked volume was made writable again; blocking it again", "mount", v.MountPoint)
			w.applyVolumes(ctx, p)
			return
		}
		w.changed()
		return
	}
	vs := &volumeState{VolumeStatus: VolumeStatus{Volume: v, Approved: approved, ApprovedAs: entry.Description}}
	if pv, ok := w.prev[v.MountPoint]; ok && !known && pv.Device == v.Device {
		// Listed again after a policy change: already reported. What was
		// done stands if the new policy decides the same.
		delete(w.prev, v.MountPoint)
		if pv.Approved == approved && pv.action == p.Storage.RemovableMedia.Action {
			vs.handled, vs.action, vs.blocked, vs.Action, vs.Problem = pv.handled, pv.action, pv.blocked, pv.Action, pv.Problem
		}
		w.volumes[v.MountPoint] = vs
		w.mu.Unlock()
		w.applyVolumes(ctx, p)
		return
	}
	w.volumes[v.MountPoint] = vs
	w.mu.Unlock()
	if !known && v.Removable {
		if approved {
			w.event(wire.Event{Time: ch.Time, Type: wire.EventVolumeApproved, Detail: volumeDetail(v) + " allowed as " + fmt.Sprintf("%q", entry.Description)})
		} else {
			w.event(wire.Event{Time: ch.Time, Type: wire.EventVolumeUnapproved, Detail: volumeDetail(v)})
			w.notable()
		}
	}
	w.applyVolumes(ctx, p)
}

// applyVolumes takes the policy's action on every unapproved removable
// volume it has not yet acted on, and updates the swept folders.
func (w *Watcher) applyVolumes(ctx context.Context, p *policy.Policy) {
	action := p.Storage.RemovableMedia.Action
	w.mu.Lock()
	var todo []*volumeState
	for _, vs := range w.volumes {
		if vs.Removable && !vs.Approved && !vs.handled && usableMount(vs.MountPoint) {
			vs.handled, vs.action = true, action
			todo = append(todo, vs)
		}
	}
	w.mu.Unlock()
	for _, vs := range todo {
		what, problem := "", ""
		label := VolumeLabel(vs.Volume)
		switch action {
		case policy.ActionBlock:
			err := w.block(ctx, vs.Volume)
			switch {
			case err == nil:
				what = "made read-only: nothing can be copied to it"
				w.mu.Lock()
				vs.blocked = true
				w.mu.Unlock()
				w.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventVolumeBlocked, Detail: volumeDetail(vs.Volume)})
				w.notify("USB drive blocked", label+" is not approved by your council: it was made read-only. Ask IT for an approved drive.")
			case errors.Is(err, storage.ErrBlockDeferred):
				what = "will be read-only from the next time it is plugged in (it is in use now)"
				w.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventVolumeBlocked, Detail: volumeDetail(vs.Volume) + " (deferred: " + err.Error() + ")"})
				w.notify("Unapproved USB drive", label+" is not approved by your council: do not copy case files to it. It will be read-only once plugged in again.")
			default:
				what = "should be made read-only, but could not be"
				problem = err.Error()
				if errors.Is(err, storage.ErrBlockUnsupported) {
					problem = "this system cannot block it: " + err.Error()
				}
				w.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventBlockFailed, Detail: volumeDetail(vs.Volume) + ": " + problem})
				w.notify("Unapproved USB drive", label+" is not approved by your council. Do not copy case files to it.")
				w.mu.Lock()
				vs.tries++
				tries := vs.tries
				w.mu.Unlock()
				if tries < maxBlockTries && !errors.Is(err, storage.ErrBlockUnsupported) {
					time.AfterFunc(time.Duration(tries)*w.cfg.BlockRetry, func() {
						if ctx.Err() != nil {
							return
						}
						w.mu.Lock()
						vs.handled = false
						w.mu.Unlock()
						w.applyVolumes(ctx, p)
					})
				}
			}
		case policy.ActionSeal:
			what = "case files found on it are encrypted for the council"
			w.notify("Unapproved USB drive", label+" is not approved: case files on it will be encrypted so only the council can read them.")
		default:
			what = "reported to IT security"
			w.notify("Unapproved USB drive", label+" is not approved by your council. Do not copy case files to it.")
		}
		w.mu.Lock()
		vs.Action, vs.Problem = what, problem
		w.mu.Unlock()
	}
	w.refreshSweep()
	w.changed()
}

// block asks the storage source to make v read-only, with a deadline: a
// filesystem that hangs (a stalled FUSE daemon under the mount point) must
// not stop the watcher handling other volumes. The call itself may linger
// until it returns.
func (w *Watcher) block(ctx context.Context, v storage.Volume) error {
	timeout := w.cfg.BlockTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.cfg.Storage.Block(ctx, v) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("making it read-only took longer than %s", timeout)
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
