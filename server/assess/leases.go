package assess

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// when writes a time as the statements do.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// host is the address part of a source address ("192.0.2.7:50123"):
// whether two leases came from one place is told by it.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// copyHeld says how the device said its offline copy was held, for "the
// laptop's offline copy (...)".
var copyHeld = map[string]string{
	wire.OfflineTPM: "sealed to its TPM, so it cannot be used on another computer",
	wire.OfflineOS:  "held by the operating system only, not by a TPM: a root-only file on Linux, DPAPI machine scope on Windows, the System keychain on macOS, so only as safe as the disk encryption",
	"":              "the device did not say how it was held",
}

// diskSays is what the device reported of its disk encryption at the
// loss, for the statement on an `os` offline copy.
var diskSays = map[string]string{
	"pass": "the device reported full-disk encryption on at the loss, so it is as safe as that encryption and the laptop's accounts",
	"fail": "the device reported full-disk encryption OFF at the loss, so anyone who could read the laptop's disk could take it",
}

// Until is the latest time the device's agent may still have opened its
// vault without hearing from the server: the Until of the last lease
// served, before or after the loss. Zero if none was served.
func (a *Assessment) Until() time.Time {
	until := a.LeaseBefore.Until
	if a.Leases.UntilAfter.After(until) {
		until = a.Leases.UntilAfter
	}
	return until
}

// keysDestroyed is when the server destroyed the last of the device's
// lease keys, if every one is destroyed.
func (a *Assessment) keysDestroyed() time.Time {
	var last time.Time
	for _, k := range a.LeaseKeys {
		if k.DestroyedAt.IsZero() {
			return time.Time{}
		}
		if k.DestroyedAt.After(last) {
			last = k.DestroyedAt
		}
	}
	return last
}

// leaseStatements say, from the whole lease log, whether the vault key
// was safe after the loss.
func (a *Assessment) leaseStatements() []string {
	ev := a.Leases
	b := a.LeaseBefore
	var out []string
	if b.At.IsZero() {
		s := "The server served no vault lease to this device before the loss"
		if a.HasState && a.State.Lease != wire.LeaseUnlocked && a.State.Lease != wire.LeaseOffline && a.State.Lease != wire.LeaseLocked {
			s += fmt.Sprintf(" and the device reported its vault key as %q then", a.State.Lease)
		}
		out = append(out, s+": its vault key was not protected by a lease, so the lease log cannot bound who could open its vault (the disk encryption above is what protected it).")
	} else {
		s := "The vault key was last served at " + when(b.At)
		if ev.ServedAfter == 0 {
			s += " and no lease was served after the loss at " + when(a.LostAt)
		} else {
			first, last := ev.FirstAfter, ev.LastAfter
			s += fmt.Sprintf(", before the loss at %s, and a lease WAS served after it %s, the first at %s from %s", when(a.LostAt),
				times(ev.ServedAfter), when(first.At), first.Source)
			if host(first.Source) != host(b.Source) {
				s += fmt.Sprintf(" (not the address of the last lease before the loss, %s)", b.Source)
			}
			if ev.ServedAfter > 1 {
				s += fmt.Sprintf(", the last at %s from %s", when(last.At), last.Source)
			}
			if n := ev.KeysAfter; n > 0 {
				s += fmt.Sprintf(", the key itself sent %s", times(n))
			}
		}
		until := a.Until()
		switch held := a.offlineCopy(); {
		case held == wire.OfflineNone:
			s += "; the laptop kept no offline copy of the lease, so after a restart its vault opened only with a lease from the server"
		case !b.Until.After(a.LostAt):
			s += fmt.Sprintf("; the laptop's offline copy (%s) had expired at %s, before the loss (the last lease before it plus the offline window of %s recorded with it)",
				copyHeld[held], when(b.Until), Span(b.Window))
		default:
			s += fmt.Sprintf("; the laptop's offline copy (%s) was still valid at the loss and could be used until %s: the last lease before the loss plus the offline window of %s recorded with it",
				copyHeld[held], when(b.Until), Span(b.Window))
		}
		if until.After(b.Until) {
			s += fmt.Sprintf("; with the leases served after the loss, the vault could be opened until %s", when(until))
		}
		if !until.After(a.MadeAt) {
			s += fmt.Sprintf("; the agent stops using its lease at %s (the agent enforces that time, not the copy)", when(until))
		} else {
			s += fmt.Sprintf("; until %s the laptop's agent can still open the vault without the server, unless it has carried out a lock or a wipe", when(until))
		}
		s += copyAfter[a.offlineCopy()]
		out = append(out, s+".")
		if held := a.offlineCopy(); held == wire.OfflineOS && until.After(a.LostAt) {
			disk := "whether the disk was encrypted is not known, so neither is how safe the copy was"
			if a.HasState && diskSays[a.State.DiskEncryption] != "" {
				disk = diskSays[a.State.DiskEncryption]
			}
			out = append(out, fmt.Sprintf("Its offline copy was held by the operating system only, not by a TPM: it is only as safe as the disk encryption (%s); until %s someone who could read the laptop's disk, or act as its operating system (root or SYSTEM), could use it to open the vault, and after that time too with a copy of it taken before the agent deleted it.", disk, when(until)))
		}
	}
	if b.At.IsZero() && ev.ServedAfter > 0 {
		first := ev.FirstAfter
		out = append(out, fmt.Sprintf("A lease WAS served after the loss %s, the first at %s from %s.",
			times(ev.ServedAfter), when(first.At), first.Source))
	}
	if n := ev.Refusals(); n > 0 {
		var reasons []string
		for r, n := range ev.RefusedAfter {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(reasons)
		first, atLeast, from := ev.FirstRefused, "", "the first at "+when(ev.FirstRefused.At)
		if ev.RefusedAtLeast {
			atLeast = "at least "
		}
		if !first.At.After(a.LostAt) {
			from = fmt.Sprintf("in a run of refusals that began at %s, before the loss, and went on until %s", when(first.At), when(first.LastAt))
		}
		out = append(out, fmt.Sprintf("After the loss the server refused %s%s (%s), %s from %s: the device asked for its key and was not given it.",
			atLeast, plural(n, "lease request", "lease requests"), strings.Join(reasons, ", "), from, first.Source))
	}
	if at := a.keysDestroyed(); !at.IsZero() {
		s := fmt.Sprintf("The server destroyed the device's lease keys at %s: it holds no copy of the device's vault key and can no longer serve it", when(at))
		switch w, st := a.lastWipe(); st {
		case store.StatusDone:
			s += fmt.Sprintf("; the agent acknowledged the wipe done at %s, having deleted the sealed files, its wrapped identity and its copies of the lease from the laptop "+
				"(deleted data may still be recoverable from the disk's free blocks, which only the disk encryption protects)", when(w.AckedAt))
			if w.Reason != "" {
				s += "; the agent said: " + w.Reason
			}
			s += ". The council's escrow keys open only copies of the files kept elsewhere, as in the case-management system"
		case store.StatusRequested, store.StatusDelivered, store.StatusExpired:
			if r := a.Device.RevokedAt; !r.IsZero() {
				s += fmt.Sprintf("; the device was revoked at %s with a wipe not acknowledged, so whether the laptop carried it out is not known", when(r))
			}
		case store.StatusFailed:
			s += fmt.Sprintf(", but the wipe FAILED (the agent said at %s: %s): the laptop was not wiped, and whatever it kept (above) may still be there", when(w.AckedAt), orNoReason(w.Reason))
		}
		out = append(out, s+".")
	}
	return out
}

// copyAfter says, by how the device held its offline copy, what the
// agent's window does not stop.
var copyAfter = map[string]string{
	wire.OfflineTPM: "; the agent then deletes its copy, but that copy is sealed to the TPM without binding to the laptop's boot state: " +
		"someone with administrator access to this laptop who took it, or recovers it from the disk's free blocks, could still unseal it and open the vault after that time",
	wire.OfflineOS: "; the agent then deletes its copy, but someone with administrator access to the laptop who took it, or recovers it from the disk's free blocks " +
		"(anyone who reads the disk, if it is not encrypted), could still open the vault with it after that time",
	"": "; how the copy was held is not known, so neither is whether it could still be opened after that time",
}

// lastWipe is the device's latest wipe not cancelled and its status
// (nil and "" if there is none).
func (a *Assessment) lastWipe() (*store.Command, store.CommandStatus) {
	for i := len(a.Commands) - 1; i >= 0; i-- {
		if c := &a.Commands[i]; c.Type == wire.CommandWipe && c.CancelledAt.IsZero() {
			return c, c.Status(a.MadeAt)
		}
	}
	return nil, ""
}

func orNoReason(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// offlineCopy is how the device said, in its state at the loss, that its
// offline copy was held ("" if it did not say).
func (a *Assessment) offlineCopy() string {
	if !a.HasState {
		return ""
	}
	return a.State.OfflineCopy
}

// times says how many times: "once", "twice", "3 times".
func times(n int64) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// commandNames name each kind of command in a sentence.
var commandNames = map[string]string{wire.CommandWipe: "A wipe", wire.CommandLock: "A lock", wire.CommandUnlock: "An unlock"}

// commandStatements say what became of each lock, unlock and wipe.
func (a *Assessment) commandStatements() []string {
	var out []string
	for _, c := range a.Commands {
		name, ok := commandNames[c.Type]
		if !ok {
			name = "A " + c.Type
		}
		s := fmt.Sprintf("%s was requested at %s by %s", name, when(c.RequestedAt), c.RequestedBy)
		delivered := fmt.Sprintf("it was delivered at %s", when(c.DeliveredAt))
		acked := fmt.Sprintf("at %s (by the device's clock; received %s)", when(c.AckedAt), when(c.AckReceivedAt))
		switch c.Status(a.MadeAt) {
		case store.StatusCancelled:
			s += fmt.Sprintf("; it was cancelled at %s by %s, before it was delivered", when(c.CancelledAt), c.CancelledBy)
		case store.StatusRequested:
			s += "; it has not been delivered: the device has not contacted the server since"
		case store.StatusExpired:
			if c.DeliveredAt.IsZero() {
				s += fmt.Sprintf("; it expired at %s before it was delivered", when(c.Expires))
			} else {
				s += fmt.Sprintf("; %s but never acknowledged, and expired at %s", delivered, when(c.Expires))
			}
		case store.StatusDelivered:
			s += "; " + delivered + ", and the device has not acknowledged it"
		case store.StatusDone:
			s += "; " + delivered + ", and the device acknowledged it done " + acked
			if c.Reason != "" {
				s += ": " + c.Reason
			}
		case store.StatusFailed:
			s += "; " + delivered + ", and the device acknowledged it FAILED " + acked + ": " + c.Reason
		case store.StatusRefused:
			s += "; " + delivered + ", and the device's agent REFUSED it " + acked + ": " + c.Reason
		}
		if c.Type == wire.CommandWipe && c.CancelledAt.IsZero() {
			s += "; the server refuses the device its lease since the wipe was requested"
		}
		out = append(out, s+".")
	}
	return out
}
