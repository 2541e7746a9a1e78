package agent

// Commands from the server
//
// Lock, unlock and wipe come in the server's signed reply to a heartbeat
// batch; package report passes on only those of a reply that verifies
// against the pinned server key and echoes the batch's nonce (a replayed
// reply's are refused there). Here each is checked again: one for
// another device, one expired by the reply's server time, or of an
// unknown type is refused (acknowledged as refused, with the reason, and
// reported as wire.EventCommandRefused), and so is one that comes while
// the device is being wiped (nothing else is carried out then). Commands
// in a reply package report does not take (not signed by the pinned
// server key, for another device, or replayed) are reported there as
// wire.EventCommandRefused, once each, and not acknowledged: such a reply
// cannot be trusted to name them. The others are carried out once:
// the ID and acknowledgement of every command carried out or refused are
// kept in the state store, and a command seen again is acknowledged again,
// not run again. Acknowledgements go in the next heartbeat, kept durably
// until one carries them (report.Reporter.Ack).
//
//   - lock: the vault is locked and the offline copy of the lease dropped.
//   - unlock: the lease is asked for at once.
//   - wipe: a crypto-shred (wipe.go), acknowledged when it is done.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/casekeep/casekeep/internal/wire"
)

// commandsBucket holds, by command ID, the acknowledgement of every
// command carried out or refused.
var commandsBucket = []byte("agent-commands")

// onCommands handles the commands of a verified reply (from the reporter's
// sending goroutine: it never waits on a heartbeat).
func (a *Agent) onCommands(_ context.Context, serverTime time.Time, cmds []wire.Command) {
	if serverTime.IsZero() {
		// No server time: the local clock, not earlier than the floor of
		// trusted time (a clock set back must not revive an expired command).
		serverTime = time.Now()
		a.mu.Lock()
		k := a.keyring
		a.mu.Unlock()
		if k != nil {
			serverTime = k.TrustedNow(serverTime)
		}
	}
	for _, c := range cmds {
		a.command(c, serverTime)
	}
}

func (a *Agent) command(c wire.Command, serverTime time.Time) {
	if prev, ok := a.commandDone(c.ID); ok {
		a.log.Info("a command carried out before came again: acknowledging it again", "id", c.ID, "type", prev.Type, "result", prev.Result)
		a.ack(prev, false)
		return
	}
	a.mu.Lock()
	w := a.wipe
	a.mu.Unlock()
	switch {
	case c.DeviceID != a.cfg.Enrollment.DeviceID:
		a.refuseCommand(c, "it is for another device ("+c.DeviceID+")")
		return
	case c.Expires.Before(serverTime):
		a.refuseCommand(c, "it expired at "+c.Expires.UTC().Format(time.RFC3339)+", before the server's time "+serverTime.UTC().Format(time.RFC3339))
		return
	case c.Type != wire.CommandLock && c.Type != wire.CommandUnlock && c.Type != wire.CommandWipe:
		a.refuseCommand(c, fmt.Sprintf("%q is not an action this agent knows", wire.Clean(c.Type, 64)))
		return
	case w != nil && c.ID == w.Command:
		return // acknowledged when done
	case w != nil:
		// A wipe is under way: nothing else is carried out any more.
		a.refuseCommand(c, "the device is being wiped (command "+w.Command+")")
		return
	}
	a.log.Info("command from the server", "id", c.ID, "type", c.Type, "issued", c.Issued)
	switch c.Type {
	case wire.CommandLock:
		ack := wire.CommandAck{ID: c.ID, Type: c.Type, Result: wire.AckDone}
		if err := a.lockNow("IT security locked the device (command " + c.ID + ")"); err != nil {
			ack.Result, ack.Reason = wire.AckFailed, err.Error()
		}
		a.ack(ack, true)
	case wire.CommandUnlock:
		a.askRenew()
		a.ack(wire.CommandAck{ID: c.ID, Type: c.Type, Result: wire.AckDone, Reason: "the lease is asked for again"}, true)
	case wire.CommandWipe:
		a.requestWipe(c)
	}
}

// refuseCommand acknowledges c as refused and reports why.
func (a *Agent) refuseCommand(c wire.Command, why string) {
	a.log.Warn("refused a command from the server", "id", c.ID, "type", c.Type, "why", why)
	a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventCommandRefused, Detail: wire.Clean(fmt.Sprintf("%s command %s refused: %s", c.Type, c.ID, why), wire.MaxString)})
	a.ack(wire.CommandAck{ID: c.ID, Type: c.Type, Result: wire.AckRefused, Reason: why}, true)
}

// ack queues ack for the next heartbeat, recording it first if record is
// set, so that the command is not carried out again; a failure is logged.
func (a *Agent) ack(ack wire.CommandAck, record bool) {
	if err := a.queueAck(ack, record); err != nil {
		a.log.Error("could not queue a command's acknowledgement", "id", ack.ID, "err", err)
	}
}

// ackHook, when a test sets it, is called before an acknowledgement is
// queued; an error it returns fails the queueing.
var ackHook func(wire.CommandAck) error

// queueAck is ack, returning the error of queueing it (the wipe retries
// its phase on one: its acknowledgement must reach the server). A failure
// to record the command is logged, not returned: the acknowledgement
// still goes.
func (a *Agent) queueAck(ack wire.CommandAck, record bool) error {
	if ack.At.IsZero() {
		ack.At = time.Now().UTC()
	}
	ack.Reason = wire.Clean(ack.Reason, wire.MaxString)
	if record {
		if err := a.recordCommand(ack); err != nil {
			a.log.Error("could not record a command as carried out", "id", ack.ID, "err", err)
		}
	}
	if ackHook != nil {
		if err := ackHook(ack); err != nil {
			return err
		}
	}
	return a.reporter.Ack(ack)
}

// commandDone returns the acknowledgement of the command id, if it was
// carried out or refused before.
func (a *Agent) commandDone(id string) (wire.CommandAck, bool) {
	var ack wire.CommandAck
	found := false
	err := a.store.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(commandsBucket)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(id)); v != nil && json.Unmarshal(v, &ack) == nil {
			found = true
		}
		return nil
	})
	if err != nil {
		a.log.Warn("could not read the commands carried out", "err", err)
	}
	return ack, found
}

func (a *Agent) recordCommand(ack wire.CommandAck) error {
	v, err := json.Marshal(ack)
	if err != nil {
		return err
	}
	return a.store.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(commandsBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(ack.ID), v)
	})
}
