package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

// CommandView is a lock, unlock or wipe for a device's agent, and what
// became of it, as the API shows it.
type CommandView struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requested_at"`
	RequestedBy string    `json:"requested_by"`
	Expires     time.Time `json:"expires,omitzero"` // zero (absent) for a wipe, which never expires
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	// Result is the agent's acknowledgement (done, failed, refused), with
	// its Reason; AckedAt is the agent's time, AckReceivedAt the server's.
	Result        string    `json:"result,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	AckedAt       time.Time `json:"acked_at,omitzero"`
	AckReceivedAt time.Time `json:"ack_received_at,omitzero"`
	CancelledAt   time.Time `json:"cancelled_at,omitzero"`
	CancelledBy   string    `json:"cancelled_by,omitempty"`
}

func (a *API) commandView(c store.Command) CommandView {
	return CommandView{ID: c.ID, Type: c.Type, Status: string(c.Status(a.cfg.Now())), RequestedAt: c.RequestedAt, RequestedBy: c.RequestedBy,
		Expires: c.Expires, DeliveredAt: c.DeliveredAt, Result: c.Result, Reason: c.Reason, AckedAt: c.AckedAt,
		AckReceivedAt: c.AckReceivedAt, CancelledAt: c.CancelledAt, CancelledBy: c.CancelledBy}
}

func (a *API) commandViews(cs []store.Command) []CommandView {
	out := []CommandView{}
	for _, c := range cs {
		out = append(out, a.commandView(c))
	}
	return out
}

// LeaseView is an entry of a device's lease log: a lease served, or a run
// of identical refusals (Requests of them, from At to LastAt).
type LeaseView struct {
	At       time.Time `json:"at"`
	LastAt   time.Time `json:"last_at"`
	Requests int64     `json:"requests"`
	// Source is the TCP peer: a reverse proxy's address when the server
	// is behind one.
	Source string `json:"source"`
	// Kind is enroll, key (the key sent) or renew (the window extended).
	Kind      string    `json:"kind"`
	KeyID     string    `json:"key_id"`
	NextKeyID string    `json:"next_key_id,omitempty"`
	Served    bool      `json:"served"`
	Refused   string    `json:"refused,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	Window    string    `json:"offline_window"`
	AgentTime time.Time `json:"agent_time,omitzero"`
	Nonce     string    `json:"nonce,omitempty"`
}

// LeaseKeyView is one of a device's lease keys (never its bytes).
type LeaseKeyView struct {
	ID          string    `json:"id"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	DestroyedAt time.Time `json:"destroyed_at,omitzero"`
}

// maxLeases bounds a lease log answer.
const maxLeases = 10_000

// leases is a device's lease log, newest first: ?from=, ?to= (default the
// last 30 days), ?limit= (default 1000).
func (a *API) leases(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	from, to, err := a.timeRange(r)
	if err != nil {
		return err
	}
	n, err := limit(r, maxLeases)
	if err != nil {
		return err
	}
	recs, err := a.cfg.Store.Leases(ctx, id, from, to, n)
	if err != nil {
		return err
	}
	out := []LeaseView{}
	for _, l := range recs {
		out = append(out, LeaseView{At: l.At, LastAt: l.LastAt, Requests: l.Requests, Source: l.Source, Kind: l.Kind, KeyID: l.KeyID, NextKeyID: l.NextKeyID, Served: l.Served(),
			Refused: l.Refused, Until: l.Until, Window: l.Window.String(), AgentTime: l.AgentTime, Nonce: l.Nonce})
	}
	header := []string{"at", "last_at", "requests", "source", "kind", "key_id", "next_key_id", "served", "refused", "until", "offline_window", "agent_time", "nonce"}
	return writeList(w, r, "leases-"+id, out, header, func(l LeaseView) []string {
		return []string{present.Time(l.At), present.Time(l.LastAt), strconv.FormatInt(l.Requests, 10), l.Source, l.Kind, l.KeyID, l.NextKeyID, strconv.FormatBool(l.Served),
			l.Refused, present.Time(l.Until), l.Window, present.Time(l.AgentTime), l.Nonce}
	})
}

// commands are a device's locks, unlocks and wipes, oldest first.
func (a *API) commands(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	cs, err := a.cfg.Store.Commands(ctx, id)
	if err != nil {
		return err
	}
	out := a.commandViews(cs)
	header := []string{"id", "type", "status", "requested_at", "requested_by", "expires", "delivered_at", "result",
		"reason", "acked_at", "ack_received_at", "cancelled_at", "cancelled_by"}
	return writeList(w, r, "commands-"+id, out, header, func(c CommandView) []string {
		return []string{c.ID, c.Type, c.Status, present.Time(c.RequestedAt), c.RequestedBy, present.Time(c.Expires),
			present.Time(c.DeliveredAt), c.Result, c.Reason, present.Time(c.AckedAt), present.Time(c.AckReceivedAt),
			present.Time(c.CancelledAt), c.CancelledBy}
	})
}

// command answers a POST that requests a command with do: 202 and the
// command.
func (a *API) command(do func(ctx context.Context, who, deviceID string) (store.Command, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := do(r.Context(), who(r), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, a.commandView(c))
		return nil
	}
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) error {
	c, err := a.act.CancelCommand(r.Context(), who(r), r.PathValue("id"), r.PathValue("cid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.commandView(c))
	return nil
}

// FoundReply is the answer to POST /devices/{id}/found.
type FoundReply struct {
	// Closed is how many open lost reports were closed.
	Closed int `json:"closed"`
	// Unlock is the unlock requested because the device was locked;
	// absent if it was not.
	Unlock *CommandView `json:"unlock,omitempty"`
	// Wipe is the device's wipe that still stands (not cancelled): found
	// does not undo it, and the server goes on refusing the lease; Note
	// says what becomes of it. Both absent if there is none.
	Wipe *CommandView `json:"wipe,omitempty"`
	Note string       `json:"note,omitempty"`
}

func (a *API) found(w http.ResponseWriter, r *http.Request) error {
	res, err := a.act.MarkFound(r.Context(), who(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	reply := FoundReply{Closed: res.Closed, Note: res.Note}
	if res.Unlock != nil {
		v := a.commandView(*res.Unlock)
		reply.Unlock = &v
	}
	if res.Wipe != nil {
		v := a.commandView(*res.Wipe)
		reply.Wipe = &v
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

func (a *API) rotate(w http.ResponseWriter, r *http.Request) error {
	k, err := a.act.RotateLeaseKey(r.Context(), who(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, LeaseKeyView{ID: k.ID, State: k.State, CreatedAt: k.CreatedAt})
	return nil
}
