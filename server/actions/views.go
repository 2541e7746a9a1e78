package actions

import (
	"context"

	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/internal/present"
)

// ViewAssessment makes the lost-device assessment in for who, and records
// that they viewed it; format is how ("" for the front end's own page,
// else such as "json", "csv" or "print"), and is named in the audit
// entry. An assessment that cannot be made (assess.ErrNoLossTime, an
// unknown device) is not recorded.
func (a *Actions) ViewAssessment(ctx context.Context, who string, in assess.Input, format string) (*assess.Assessment, error) {
	now := a.now()
	if in.Now.IsZero() {
		in.Now = now
	}
	as, err := assess.Assess(ctx, a.Store, in)
	if err != nil {
		return nil, err
	}
	detail := "lost-device assessment, lost at " + present.Time(as.LostAt)
	if format != "" {
		detail += " (" + format + ")"
	}
	return as, a.record(ctx, now, who, AuditReportView, in.DeviceID, detail)
}

// SignIn records that who signed in to the console with the token
// tokenID.
func (a *Actions) SignIn(ctx context.Context, who, tokenID string) error {
	return a.record(ctx, a.now(), who, AuditSignIn, who, "token "+tokenID)
}

// SignOut records that who signed out of the console, from a session of
// the token tokenID.
func (a *Actions) SignOut(ctx context.Context, who, tokenID string) error {
	return a.record(ctx, a.now(), who, AuditSignOut, who, "token "+tokenID)
}
