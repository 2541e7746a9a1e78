package server

import (
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

func (s *Server) lease(w http.ResponseWriter, r *http.Request) {
	if err := s.doLease(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// doLease answers a lease request: 400 for one malformed, 413 for one too
// large, 403 for an unknown device, 401 for a signature that does not
// verify with the device's key, 429 with Retry-After for a device asking
// faster than its rate (Config.LeaseBurst, LeaseEvery), 409 for a nonce
// the device has used before; otherwise 200 with a reply, signed with the
// server key, that grants the lease or says why it is refused. Every
// lease served or refused is in the store's lease log (identical
// refusals in a row as one entry).
func (s *Server) doLease(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	req, err := wire.DecodeLeaseRequest(body)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, wire.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		return fail(status, "%v", err)
	}
	dev, err := s.device(r.Context(), req.DeviceID)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(wire.SignatureHeader))
	if err != nil || wire.VerifyLease(dev.key, body, sig) != nil {
		return fail(http.StatusUnauthorized, "the lease request is not signed by device %s's key", req.DeviceID)
	}
	if ok, wait := s.leases.allow(req.DeviceID, s.cfg.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return fail(http.StatusTooManyRequests, "device %s asks for its lease too often; try again in %s", req.DeviceID, wait.Round(time.Second))
	}
	pol, err := s.currentPolicy(r.Context())
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	res, err := s.serveLease(r.Context(), store.LeaseRequest{DeviceID: req.DeviceID, Kind: req.Want, KeyID: req.KeyID, At: now,
		// Source is the TCP peer: behind a reverse proxy, the proxy's
		// address (a forwarded header is not trusted: any client can set it).
		Window: pol.p.Offline.UnlockWindow, Source: r.RemoteAddr, Nonce: req.Nonce, AgentTime: req.Time})
	if errors.Is(err, store.ErrInvalid) {
		return fail(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	reply := wire.LeaseReply{V: wire.Version, DeviceID: req.DeviceID, Nonce: req.Nonce, ServerTime: now}
	switch res.Outcome {
	case store.LeaseUnknown:
		return fail(http.StatusForbidden, "unknown device %s", req.DeviceID)
	case store.LeaseReplay:
		return fail(http.StatusConflict, "device %s has sent this nonce before: a lease request is answered once", req.DeviceID)
	case store.LeaseFailed:
		s.log.Error("a device's stored lease key does not open: its lease is not served", "device", req.DeviceID, "err", res.Err)
		return fail(http.StatusInternalServerError, "the server cannot open device %s's stored lease key; the server's log says why", req.DeviceID)
	case store.LeaseRefused:
		reply.Refused = res.Record.Refused
		s.log.Warn("lease refused", "device", req.DeviceID, "reason", res.Record.Refused, "source", r.RemoteAddr)
	default:
		reply.Grant = grant(res)
	}
	s.reply(w, http.StatusOK, reply, wire.SignLeaseReply)
	return nil
}

// grant is the lease a result served.
func grant(res store.LeaseResult) *wire.LeaseGrant {
	g := &wire.LeaseGrant{KeyID: res.Record.KeyID, Key: res.Key, Until: res.Record.Until}
	if n := res.Next; n != nil {
		g.Next = &wire.NextKey{KeyID: n.ID, Key: n.Key}
	}
	return g
}
