package actions

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

// The names of the actions in the audit log (store.AuditEntry.Action).
const (
	AuditMarkLost    = "device.mark_lost"
	AuditFound       = "device.found"
	AuditWipeRequest = "device.wipe_request"
	AuditLock        = "device.lock"
	AuditUnlock      = "device.unlock"
	AuditCancel      = "device.command_cancel"
	AuditLeaseRotate = "device.lease_rotate"
	AuditRevoke      = "device.revoke"
	AuditDecision    = "device.decision"
	AuditUserAdd     = "user.add"
	AuditTokenCreate = "token.create"
	AuditTokenRevoke = "token.revoke"
	AuditReportView  = "report.view"
	AuditSignIn      = "console.login"
	AuditSignOut     = "console.logout"
)

// AuditColumns are the columns of the audit log's CSV download, in the
// API and the console; AuditCells writes an entry's.
var AuditColumns = []string{"id", "time", "actor", "action", "target", "detail"}

// AuditCells writes e as the cells of AuditColumns.
func AuditCells(e store.AuditEntry) []string {
	return []string{strconv.FormatInt(e.ID, 10), present.Time(e.Time), e.Actor, e.Action, e.Target, e.Detail}
}

// CommandLine is who acts through the casekeep-server command line, which
// runs with the store's own access rather than a person's token.
const CommandLine = "casekeep-server (command line)"

// Actions does people's actions in a store. Store is required.
type Actions struct {
	Store store.Store
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger is where a failure to write the audit log is logged.
	Logger *slog.Logger
}

func (a *Actions) now() time.Time {
	if a.Now == nil {
		return time.Now().UTC()
	}
	return a.Now().UTC()
}

// record appends who's action to the audit log.
func (a *Actions) record(ctx context.Context, at time.Time, who, action, target, detail string) error {
	_, err := a.Store.Audit(ctx, store.AuditEntry{Time: at, Actor: who, Action: action, Target: target, Detail: detail})
	if err != nil {
		if a.Logger != nil {
			a.Logger.Error("could not write the audit log", "action", action, "target", target, "err", err)
		}
		return fmt.Errorf("writing the audit log: %w", err)
	}
	return nil
}
