package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

func sampleLeaseRequest(t testing.TB) *wire.LeaseRequest {
	id, err := wire.NewDeviceID()
	if err != nil {
		t.Fatal(err)
	}
	return &wire.LeaseRequest{V: wire.Version, DeviceID: id, Nonce: wire.NewNonce(), Time: time.Date(2026, 12, 3, 13, 12, 0, 0, time.UTC),
		KeyID: "lk_1", Want: wire.WantKey}
}

func sampleLeaseReply(t testing.TB) *wire.LeaseReply {
	req := sampleLeaseRequest(t)
	return &wire.LeaseReply{V: wire.Version, DeviceID: req.DeviceID, Nonce: req.Nonce, ServerTime: req.Time,
		Grant: &wire.LeaseGrant{KeyID: "lk_1", Key: bytes.Repeat([]byte{7}, wire.LeaseKeySize), Until: req.Time.Add(72 * time.Hour)}}
}

func TestLeaseRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	req := sampleLeaseRequest(t)
	body, _ := wire.Marshal(req)
	if err := wire.VerifyLease(pub, body, wire.SignLease(priv, body)); err != nil {
		t.Fatal(err)
	}
	got, err := wire.DecodeLeaseRequest(body)
	if err != nil || *got != *req {
		t.Fatalf("%+v, %v", got, err)
	}
	rep := sampleLeaseReply(t)
	rep.Grant.Next = &wire.NextKey{KeyID: "lk_2", Key: bytes.Repeat([]byte{8}, wire.LeaseKeySize)}
	rb, _ := wire.Marshal(rep)
	back, err := wire.DecodeLeaseReply(rb)
	if err != nil || !bytes.Equal(back.Grant.Key, rep.Grant.Key) || back.Grant.Next.KeyID != "lk_2" {
		t.Fatalf("%+v, %v", back, err)
	}
	refused := &wire.LeaseReply{V: wire.Version, DeviceID: req.DeviceID, Nonce: req.Nonce, ServerTime: req.Time, Refused: wire.RefusedLost}
	rb, _ = wire.Marshal(refused)
	if back, err := wire.DecodeLeaseReply(rb); err != nil || back.Refused != wire.RefusedLost || back.Grant != nil {
		t.Fatalf("%+v, %v", back, err)
	}
}

// TestLeaseSignaturesAreDomainSeparated: a lease request's signature is
// not a heartbeat's or an enrollment's, and a lease reply's is not a
// heartbeats reply's, so no signed message can stand in for another.
func TestLeaseSignaturesAreDomainSeparated(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	body := []byte(`{"v":1}`)
	lease := wire.SignLease(priv, body)
	for name, verify := range map[string]func(ed25519.PublicKey, []byte, []byte) error{
		"heartbeat": wire.VerifyHeartbeat, "enrollment": wire.VerifyEnroll, "reply": wire.VerifyReply,
		"enrollment reply": wire.VerifyEnrollReply, "lease reply": wire.VerifyLeaseReply,
	} {
		if err := verify(pub, body, lease); !errors.Is(err, wire.ErrBadSignature) {
			t.Errorf("a lease request signature verified as a %s", name)
		}
	}
	if err := wire.VerifyLease(pub, body, wire.SignHeartbeat(priv, body)); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a heartbeat signature verified as a lease request")
	}
	reply := wire.SignLeaseReply(priv, body)
	if err := wire.VerifyReply(pub, body, reply); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a lease reply signature verified as a heartbeats reply")
	}
	if err := wire.VerifyLeaseReply(pub, body, wire.SignReply(priv, body)); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a heartbeats reply signature verified as a lease reply")
	}
	if err := wire.VerifyLeaseReply(pub, body, reply); err != nil {
		t.Error(err)
	}
}

func TestDecodeLeaseRefuses(t *testing.T) {
	req := func(f func(r *wire.LeaseRequest)) []byte {
		r := sampleLeaseRequest(t)
		f(r)
		b, _ := wire.Marshal(r)
		return b
	}
	for name, b := range map[string][]byte{
		"empty":        nil,
		"bad device":   req(func(r *wire.LeaseRequest) { r.DeviceID = "dev_x" }),
		"no nonce":     req(func(r *wire.LeaseRequest) { r.Nonce = "" }),
		"short nonce":  req(func(r *wire.LeaseRequest) { r.Nonce = "AAAA" }),
		"bad want":     req(func(r *wire.LeaseRequest) { r.Want = "everything" }),
		"bad key id":   req(func(r *wire.LeaseRequest) { r.KeyID = "lk 1; DROP" }),
		"long key id":  req(func(r *wire.LeaseRequest) { r.KeyID = strings.Repeat("k", 65) }),
		"no time":      req(func(r *wire.LeaseRequest) { r.Time = time.Time{} }),
		"version 2":    req(func(r *wire.LeaseRequest) { r.V = 2 }),
		"extra field":  bytes.Replace(req(func(*wire.LeaseRequest) {}), []byte(`{"v":1,`), []byte(`{"v":1,"key":"x",`), 1),
		"oversized":    append(bytes.Repeat([]byte(" "), 16<<10), req(func(*wire.LeaseRequest) {})...),
		"trailing":     append(req(func(*wire.LeaseRequest) {}), "{}"...),
		"not UTF-8":    []byte("{\"v\":1,\"device_id\":\"\xff\"}"),
		"control char": req(func(r *wire.LeaseRequest) { r.KeyID = "lk\x00" }),
	} {
		if _, err := wire.DecodeLeaseRequest(b); err == nil {
			t.Errorf("request %s: accepted", name)
		}
	}
	rep := func(f func(r *wire.LeaseReply)) []byte {
		r := sampleLeaseReply(t)
		f(r)
		b, _ := wire.Marshal(r)
		return b
	}
	for name, b := range map[string][]byte{
		"neither":       rep(func(r *wire.LeaseReply) { r.Grant = nil }),
		"both":          rep(func(r *wire.LeaseReply) { r.Refused = wire.RefusedLost }),
		"short key":     rep(func(r *wire.LeaseReply) { r.Grant.Key = r.Grant.Key[:16] }),
		"no key id":     rep(func(r *wire.LeaseReply) { r.Grant.KeyID = "" }),
		"no until":      rep(func(r *wire.LeaseReply) { r.Grant.Until = time.Time{} }),
		"next same id":  rep(func(r *wire.LeaseReply) { r.Grant.Next = &wire.NextKey{KeyID: "lk_1", Key: r.Grant.Key} }),
		"next no key":   rep(func(r *wire.LeaseReply) { r.Grant.Next = &wire.NextKey{KeyID: "lk_2"} }),
		"bad nonce":     rep(func(r *wire.LeaseReply) { r.Nonce = "!!" }),
		"no server now": rep(func(r *wire.LeaseReply) { r.ServerTime = time.Time{} }),
	} {
		if _, err := wire.DecodeLeaseReply(b); err == nil {
			t.Errorf("reply %s: accepted", name)
		}
	}
}

func TestCommandsAndAcks(t *testing.T) {
	id, _ := wire.NewDeviceID()
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	cmd := wire.Command{ID: "cmd_1", Type: wire.CommandWipe, DeviceID: id, Issued: now, Expires: now.Add(30 * 24 * time.Hour)}
	reply := wire.Reply{V: wire.Version, DeviceID: id, AckedSeq: 3, ServerTime: now, Nonce: wire.NewNonce(), Commands: []wire.Command{cmd}}
	b, _ := wire.Marshal(reply)
	got, err := wire.DecodeReply(b)
	if err != nil || len(got.Commands) != 1 || got.Commands[0] != cmd || got.Nonce != reply.Nonce {
		t.Fatalf("%+v, %v", got, err)
	}
	for name, f := range map[string]func(c *wire.Command){
		"no id":          func(c *wire.Command) { c.ID = "" },
		"no type":        func(c *wire.Command) { c.Type = "" },
		"bad device":     func(c *wire.Command) { c.DeviceID = "someone" },
		"no expiry":      func(c *wire.Command) { c.Expires = time.Time{} },
		"control in id":  func(c *wire.Command) { c.ID = "cmd\n1" },
		"long type name": func(c *wire.Command) { c.Type = strings.Repeat("w", 300) },
	} {
		c := cmd
		f(&c)
		r := reply
		r.Commands = []wire.Command{c}
		b, _ := wire.Marshal(r)
		if _, err := wire.DecodeReply(b); err == nil {
			t.Errorf("command %s: accepted", name)
		}
	}
	h := sampleHeartbeat(t)
	h.Lease, h.OfflineCopy = wire.LeaseUnlocked, wire.OfflineTPM
	h.Acks = []wire.CommandAck{{ID: "cmd_1", Type: wire.CommandWipe, Result: wire.AckDone, At: now}}
	hb, _ := wire.Marshal(h)
	if back, err := wire.DecodeHeartbeat(hb); err != nil || len(back.Acks) != 1 || back.OfflineCopy != wire.OfflineTPM {
		t.Fatalf("%+v, %v", back, err)
	}
	for name, f := range map[string]func(h *wire.Heartbeat){
		"bad result":       func(h *wire.Heartbeat) { h.Acks[0].Result = "maybe" },
		"ack without id":   func(h *wire.Heartbeat) { h.Acks[0].ID = "" },
		"bad offline copy": func(h *wire.Heartbeat) { h.OfflineCopy = "usb stick" },
		"too many acks": func(h *wire.Heartbeat) {
			for range 64 {
				h.Acks = append(h.Acks, h.Acks[0])
			}
		},
	} {
		h := sampleHeartbeat(t)
		h.Acks = []wire.CommandAck{{ID: "cmd_1", Type: wire.CommandWipe, Result: wire.AckDone, At: now}}
		f(h)
		b, _ := wire.Marshal(h)
		if _, err := wire.DecodeHeartbeat(b); err == nil {
			t.Errorf("heartbeat with %s: accepted", name)
		}
	}
	batch, _ := wire.Marshal(wire.Batch{V: 1, Nonce: "short", Heartbeats: []wire.SignedHeartbeat{{Body: hb, Sig: make([]byte, 64)}}})
	if _, err := wire.DecodeBatch(batch); err == nil {
		t.Error("a batch with a malformed nonce was accepted")
	}
}

func TestNonces(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n := wire.NewNonce()
		if seen[n] || len(n) != 22 {
			t.Fatalf("nonce %q (repeated: %v)", n, seen[n])
		}
		seen[n] = true
	}
}

func FuzzDecodeLease(f *testing.F) {
	rq, _ := wire.Marshal(sampleLeaseRequest(f))
	rp, _ := wire.Marshal(sampleLeaseReply(f))
	f.Add(rq)
	f.Add(rp)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := wire.DecodeLeaseRequest(b); err == nil {
			again, _ := wire.Marshal(r)
			if _, err := wire.DecodeLeaseRequest(again); err != nil {
				t.Fatalf("an accepted lease request does not re-decode: %v", err)
			}
		}
		if r, err := wire.DecodeLeaseReply(b); err == nil {
			if (r.Grant == nil) == (r.Refused == "") {
				t.Fatalf("accepted a reply that grants %v and refuses %q", r.Grant != nil, r.Refused)
			}
			if g := r.Grant; g != nil && g.Key != nil && len(g.Key) != wire.LeaseKeySize {
				t.Fatalf("accepted a %d-byte key", len(g.Key))
			}
		}
	})
}
