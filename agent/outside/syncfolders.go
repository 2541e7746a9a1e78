package outside

import (
	"context"
	"fmt"
	"time"

	"github.com/casekeep/casekeep/agent/cloudsync"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// SyncFolder is a cloud-sync folder the watcher found.
type SyncFolder struct {
	cloudsync.Folder
	// Swept says case files appearing in it are acted on (it is not an
	// approved council folder).
	Swept  bool          `json:"swept"`
	Action policy.Action `json:"action,omitempty"`
}

// SyncLabel names a sync folder for people: its provider, and the kind of
// account.
func SyncLabel(f cloudsync.Folder) string {
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

// findSyncFolders looks for cloud-sync folders and sweeps the ones that
// are not the council's.
func (w *Watcher) findSyncFolders(ctx context.Context, p *policy.Policy) {
	approved := map[cloudsync.Provider][]string{}
	for _, acct := range p.Storage.SyncFolders.Approved {
		approved[cloudsync.Provider(acct.Provider)] = append(approved[cloudsync.Provider(acct.Provider)], acct.Account)
	}
	homes := w.homes()
	found, err := cloudsync.Find(ctx, cloudsync.Options{Homes: homes, ApprovedTenants: approved})
	if err != nil && len(found) == 0 {
		w.log.Debug("looking for sync folders", "err", err)
	}
	var syncs []SyncFolder
	var fresh []SyncFolder
	w.mu.Lock()
	for _, f := range found {
		// A sync folder's place comes from files its user can write. The
		// watcher sweeps it only strictly inside the home that named it and
		// owned by that home's owner; anything else (another user's home,
		// the whole home, a system folder) is reported, never swept.
		sf := SyncFolder{Folder: f, Swept: !f.Approved && !f.Link && f.InHome() && sameOwner(f.Home, f.Path)}
		if sf.Swept {
			sf.Action = p.Storage.SyncFolders.Action
		}
		syncs = append(syncs, sf)
		k := string(f.Provider) + "\x00" + f.Path
		if !w.syncSeen[k] {
			w.syncSeen[k] = true
			fresh = append(fresh, sf)
		}
	}
	w.syncs = syncs
	w.mu.Unlock()
	for _, sf := range fresh {
		kind := orUnknown(string(sf.Kind))
		typ := wire.EventSyncFolderFound
		if sf.Approved {
			typ = wire.EventSyncFolderApproved
		}
		w.event(wire.Event{Time: time.Now().UTC(), Type: typ, Detail: fmt.Sprintf("%s %s account %s", sf.Provider, kind, orUnknown(sf.Account))})
	}
	w.refreshSweep()
	w.changed()
}
