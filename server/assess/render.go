package assess

import (
	"embed"
	"encoding/csv"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server/internal/present"
)

//go:embed assessment.html body.html
var pageFS embed.FS

// Body defines the html/template "assessment-body": an Assessment's facts,
// statements and evidence, shared by the printable page and the console's
// assessment page. It calls the function "when" (When).
//
//go:embed body.html
var Body string

// When writes a time as the assessment pages show it: UTC to the minute,
// or "—" for none.
func When(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

var page = template.Must(template.New("assessment.html").Funcs(template.FuncMap{"when": When}).
	ParseFS(pageFS, "assessment.html", "body.html"))

// WriteHTML writes the assessment as a printable HTML page. Everything
// the device reported is escaped: a hostname or event detail is text.
func (a *Assessment) WriteHTML(w io.Writer) error {
	return page.Execute(w, a)
}

// WriteCSV writes the assessment as CSV rows of section, field, value:
// the facts, the case references, the events and the statements.
func (a *Assessment) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(section, field, value string) { cw.Write([]string{section, field, present.CSVCell(value)}) }
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	cw.Write([]string{"section", "field", "value"})
	row("device", "id", a.Device.ID)
	row("device", "hostname", a.Device.Hostname)
	row("device", "user", a.Device.User)
	row("device", "serial", a.Device.Serial)
	row("loss", "lost_at", when(a.LostAt))
	row("loss", "discovered_at", when(a.DiscoveredAt))
	row("loss", "deadline", when(a.Deadline))
	row("heartbeat", "last_before", when(a.LastBefore.ReceivedAt))
	row("heartbeat", "first_after", when(a.FirstAfter.ReceivedAt))
	if a.HasState {
		row("state", "since", when(a.StateSince))
		row("state", "sealed_files", strconv.FormatInt(a.State.SealedFiles, 10))
		row("state", "plaintext_files", strconv.FormatInt(a.State.PlaintextFiles, 10))
		row("state", "disk_encryption", a.State.DiskEncryption)
		row("state", "policy_version", strconv.Itoa(a.State.PolicyVersion))
	}
	if a.AgentStopping != "" {
		row("agent", "stopping", a.AgentStopping)
		row("agent", "stopping_at", when(a.AgentStoppingAt))
	}
	row("agent", "unannounced_stops", strconv.Itoa(len(a.UnannouncedStops)))
	for _, e := range a.UnannouncedStops {
		row("agent_unannounced_stop", when(e.Time), e.Detail)
	}
	for _, c := range a.CaseRefs {
		row("case_ref", c.Ref, strconv.Itoa(c.Files))
	}
	for _, e := range a.StorageEvents {
		row("event", when(e.Time), strings.Join([]string{e.Type, e.CaseRef, e.Detail}, " | "))
	}
	row("chain", "gaps", strconv.Itoa(len(a.Gaps)))
	row("lease", "last_before", when(a.LeaseBefore.At))
	row("lease", "last_before_source", a.LeaseBefore.Source)
	row("lease", "last_before_until", when(a.LeaseBefore.Until))
	row("lease", "offline_copy", a.offlineCopy())
	row("lease", "until", when(a.Until()))
	row("lease", "keys_destroyed", when(a.keysDestroyed()))
	ev := a.Leases
	row("lease", "served_after", strconv.FormatInt(ev.ServedAfter, 10))
	row("lease", "keys_sent_after", strconv.FormatInt(ev.KeysAfter, 10))
	if ev.ServedAfter > 0 {
		row("lease", "first_after", when(ev.FirstAfter.At)+" | "+ev.FirstAfter.Source)
		row("lease", "last_after", when(ev.LastAfter.At)+" | "+ev.LastAfter.Source)
		row("lease", "until_after", when(ev.UntilAfter))
	}
	for _, why := range slices.Sorted(maps.Keys(ev.RefusedAfter)) {
		row("lease_refused_after", why, strconv.FormatInt(ev.RefusedAfter[why], 10))
	}
	if !ev.FirstRefused.At.IsZero() {
		row("lease", "first_refused_after", when(ev.FirstRefused.At)+" | "+ev.FirstRefused.Source)
	}
	for _, c := range a.Commands {
		row("command", when(c.RequestedAt), strings.Join([]string{c.Type, c.ID, string(c.Status(a.MadeAt)), "by " + c.RequestedBy,
			"delivered " + when(c.DeliveredAt), "acknowledged " + when(c.AckedAt), c.Reason}, " | "))
	}
	for _, d := range a.Decisions {
		row("decision", when(d.At), strconv.FormatBool(d.Notify)+": "+d.Reasons)
	}
	for i, s := range a.Statements {
		row("statement", strconv.Itoa(i+1), s)
	}
	cw.Flush()
	return cw.Error()
}
