package outside

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
	"syscall"

	"github.com/casekeep/casekeep/agent/classify"
	"github.com/casekeep/casekeep/agent/sweep"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// sweepBase expands the policy's sweep folders for every home.
func (w *Watcher) sweepBase(p *policy.Policy) []sweep.Folder {
	var out []sweep.Folder
	for _, home := range w.homes() {
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
				w.log.Warn("a sweep folder of the policy does not apply here", "folder", raw, "err", err)
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

// refreshSweep gives the sweeper the folders to sweep now.
func (w *Watcher) refreshSweep() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sweeper == nil {
		return
	}
	folders := slices.Clone(w.base)
	for _, sf := range w.syncs {
		if sf.Swept {
			folders = append(folders, sweep.Folder{Path: sf.Path, Kind: sweep.KindSync, Action: sf.Action,
				Label: SyncLabel(sf.Folder)})
		}
	}
	for _, vs := range w.volumes {
		if !vs.Removable || vs.Approved || !vs.handled || !usableMount(vs.MountPoint) {
			continue
		}
		act := vs.action
		if act == policy.ActionBlock {
			act = policy.ActionAudit // a read-only volume: report what is on it
		}
		folders = append(folders, sweep.Folder{Path: vs.MountPoint, Kind: sweep.KindVolume, Action: act, Label: VolumeLabel(vs.Volume)})
	}
	w.sweeper.SetFolders(folders)
}

// sweepEvent reports what the sweeper found or did: in the log, in a
// heartbeat (kind, folder label, rule, case reference: never a file name)
// and to the person at the laptop.
func (w *Watcher) sweepEvent(e sweep.Event) {
	prefix := map[sweep.Kind]string{sweep.KindSweep: wire.PrefixSweep, sweep.KindSync: wire.PrefixSync, sweep.KindVolume: wire.PrefixStorage}[e.Folder.Kind]
	detail := fmt.Sprintf("in %s (rule: %s)", e.Folder.Label, orUnknown(e.Rule))
	name := filepath.Base(e.Path)
	switch e.Kind {
	case sweep.EventQuarantined:
		w.log.Info("moved a case file into the vault", "from", e.Path, "to", e.Dest, "case_ref", e.CaseRef)
		w.notify("Case file moved into the vault", fmt.Sprintf("%q was in %s; casekeep moved it into your case-file vault (%s).", name, e.Folder.Label, e.Dest))
	case sweep.EventSealed:
		w.log.Info("sealed a case file where it was", "path", e.Path, "sealed", e.Dest, "case_ref", e.CaseRef)
		w.notify("Case file encrypted", fmt.Sprintf("%q on %s is a case file: casekeep encrypted it so only the council can read it.", name, e.Folder.Label))
	case sweep.EventFound:
		w.log.Warn("a case file is outside the vault", "path", e.Path, "folder", e.Folder.Label, "case_ref", e.CaseRef)
		w.notify("Case file outside the vault", fmt.Sprintf("%q in %s looks like a case file. Keep case files in the casekeep vault.", name, e.Folder.Label))
	case sweep.EventFailed:
		w.log.Warn("could not act on a case file", "path", e.Path, "action", e.Folder.Action, "reason", e.Reason)
		detail += ": " + failureKind(e.Err) // the error itself names files: it stays on the laptop
	}
	w.event(wire.Event{Time: e.Time.UTC(), Type: prefix + string(e.Kind), CaseRef: e.CaseRef, Detail: detail})
	w.notable()
	w.changed()
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

// describeSweep says in plain words what the sweeper did.
func describeSweep(e sweep.Event) string {
	name := filepath.Base(e.Path)
	switch e.Kind {
	case sweep.EventQuarantined:
		return fmt.Sprintf("moved %q from %s into the vault, as %s", name, e.Folder.Label, e.Dest)
	case sweep.EventSealed:
		return fmt.Sprintf("encrypted %q on %s (now %s)", name, e.Folder.Label, filepath.Base(e.Dest))
	case sweep.EventFound:
		return fmt.Sprintf("found the case file %q in %s (%s) and reported it", name, e.Folder.Label, e.Path)
	case sweep.EventFailed:
		return fmt.Sprintf("could not deal with the case file %q in %s: %s", name, e.Folder.Label, e.Reason)
	}
	return string(e.Kind) + " " + name
}
