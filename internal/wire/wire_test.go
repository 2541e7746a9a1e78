package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

func sampleHeartbeat(t testing.TB) *wire.Heartbeat {
	id, err := wire.NewDeviceID()
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Heartbeat{
		V: wire.Version, DeviceID: id, Seq: 2, PrevHash: wire.Hash([]byte("one")),
		CreatedAt: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), AgentVersion: "v0.1.0",
		Policy:  wire.PolicyRef{Version: 3, Hash: "abc"},
		Posture: []wire.Check{{Name: "disk_encryption", Result: "pass", Evidence: "LUKS2 on /"}},
		Vault:   wire.Vault{Files: 3, Bytes: 100, CaseRefs: []wire.CaseCount{{Ref: "LL-1", Files: 3}}},
		Lease:   "none",
		Events:  []wire.Event{{Time: time.Date(2026, 11, 22, 8, 59, 0, 0, time.UTC), Type: "vault.sealed", CaseRef: "LL-1"}},
	}
}

func TestHeartbeatRoundTrip(t *testing.T) {
	h := sampleHeartbeat(t)
	body, err := wire.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.DecodeHeartbeat(body)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := wire.Marshal(got)
	if !bytes.Equal(again, body) {
		t.Errorf("re-encoding changed the bytes:\n%s\n%s", body, again)
	}
}

func TestSignaturesAreDomainSeparated(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	body := []byte(`{"v":1}`)
	hb := wire.SignHeartbeat(priv, body)
	if err := wire.VerifyHeartbeat(pub, body, hb); err != nil {
		t.Fatal(err)
	}
	if err := wire.VerifyReply(pub, body, hb); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a heartbeat signature verified as a reply signature")
	}
	if err := wire.VerifyEnroll(pub, body, hb); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a heartbeat signature verified as an enrollment signature")
	}
	reply := wire.SignReply(priv, body)
	if err := wire.VerifyEnrollReply(pub, body, reply); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a heartbeats reply signature verified as an enrollment reply")
	}
	if err := wire.VerifyEnrollReply(pub, body, wire.SignEnrollReply(priv, body)); err != nil {
		t.Errorf("enrollment reply: %v", err)
	}
	if err := wire.VerifyHeartbeat(pub, append(body, ' '), hb); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a changed body verified")
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := wire.VerifyHeartbeat(other, body, hb); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("another key verified")
	}
	if err := wire.VerifyHeartbeat(pub[:10], body, hb); !errors.Is(err, wire.ErrBadSignature) {
		t.Error("a short key verified")
	}
}

func TestDecodeHeartbeatRefuses(t *testing.T) {
	ok, _ := wire.Marshal(sampleHeartbeat(t))
	mutate := func(f func(h *wire.Heartbeat)) []byte {
		h := sampleHeartbeat(t)
		f(h)
		b, _ := wire.Marshal(h)
		return b
	}
	cases := map[string][]byte{
		"empty":           nil,
		"random":          []byte("\x00\x01 not json"),
		"unknown field":   bytes.Replace(ok, []byte(`{"v":1,`), []byte(`{"v":1,"extra":1,`), 1),
		"trailing data":   append(bytes.Clone(ok), "{}"...),
		"future version":  mutate(func(h *wire.Heartbeat) { h.V = wire.Version + 1 }),
		"zero version":    mutate(func(h *wire.Heartbeat) { h.V = 0 }),
		"bad device id":   mutate(func(h *wire.Heartbeat) { h.DeviceID = "dev_'; DROP TABLE devices;--" }),
		"seq zero":        mutate(func(h *wire.Heartbeat) { h.Seq = 0 }),
		"seq over 2^63-1": mutate(func(h *wire.Heartbeat) { h.Seq = 1 << 63 }),
		"bad prev hash":   mutate(func(h *wire.Heartbeat) { h.PrevHash = "xyz" }),
		"missing prev":    mutate(func(h *wire.Heartbeat) { h.PrevHash = "" }),
		"NUL in string":   mutate(func(h *wire.Heartbeat) { h.AgentVersion = "v1\x00" }),
		"invalid UTF-8":   bytes.Replace(ok, []byte(`"lease":"none"`), []byte("\"lease\":\"\xff\""), 1),
		"long string":     mutate(func(h *wire.Heartbeat) { h.Events[0].Detail = strings.Repeat("x", 2000) }),
		"bad posture":     mutate(func(h *wire.Heartbeat) { h.Posture[0].Result = "maybe" }),
		"negative counts": mutate(func(h *wire.Heartbeat) { h.Vault.Plaintext = -1 }),
		"event no type":   mutate(func(h *wire.Heartbeat) { h.Events[0].Type = "" }),
		"year zero":       mutate(func(h *wire.Heartbeat) { h.CreatedAt = time.Time{} }),
		"too many events": mutate(func(h *wire.Heartbeat) {
			h.Events = make([]wire.Event, wire.MaxEvents+1)
			for i := range h.Events {
				h.Events[i] = wire.Event{Time: h.CreatedAt, Type: "vault.sealed"} // each valid: only the count is wrong
			}
		}),
		"time past 9999 in UTC": mutate(func(h *wire.Heartbeat) {
			h.CreatedAt = time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600))
		}),
		"oversized":        append(bytes.Repeat([]byte(" "), wire.MaxHeartbeat), ok...),
		"empty case ref":   mutate(func(h *wire.Heartbeat) { h.Vault.CaseRefs[0].Ref = "" }),
		"negative skipped": mutate(func(h *wire.Heartbeat) { h.Skipped = -3 }),
	}
	for name, b := range cases {
		if _, err := wire.DecodeHeartbeat(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Metacharacters are data, not refused: the stores keep them inert.
	h, err := wire.DecodeHeartbeat(mutate(func(h *wire.Heartbeat) {
		h.Events[0].CaseRef = `LL-1'; DROP TABLE events;--<script>alert(1)</script>`
	}))
	if err != nil || !strings.Contains(h.Events[0].CaseRef, "<script>") {
		t.Errorf("metacharacters: %v", err)
	}
}

func TestDecodeBatchLimits(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	body, _ := wire.Marshal(sampleHeartbeat(t))
	one := wire.SignedHeartbeat{Body: body, Sig: wire.SignHeartbeat(priv, body)}
	enc := func(b wire.Batch) []byte { out, _ := wire.Marshal(b); return out }
	if _, err := wire.DecodeBatch(enc(wire.Batch{V: 1, Heartbeats: []wire.SignedHeartbeat{one}})); err != nil {
		t.Fatal(err)
	}
	many := make([]wire.SignedHeartbeat, wire.MaxBatch+1)
	for i := range many {
		many[i] = one
	}
	for name, b := range map[string][]byte{
		"none":       enc(wire.Batch{V: 1}),
		"too many":   enc(wire.Batch{V: 1, Heartbeats: many[:wire.MaxBatch+1]}),
		"no sig":     enc(wire.Batch{V: 1, Heartbeats: []wire.SignedHeartbeat{{Body: body}}}),
		"version":    enc(wire.Batch{V: 9, Heartbeats: []wire.SignedHeartbeat{one}}),
		"10 MiB":     bytes.Repeat([]byte("x"), 10<<20),
		"random":     {0xff, 0xfe, 0x00},
		"big member": enc(wire.Batch{V: 1, Heartbeats: []wire.SignedHeartbeat{{Body: make([]byte, wire.MaxHeartbeat+1), Sig: one.Sig}}}),
	} {
		if _, err := wire.DecodeBatch(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := wire.DecodeBatch(bytes.Repeat([]byte("x"), 10<<20)); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("10 MiB: %v, want ErrTooLarge", err)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"a\nb\x00c\td":          "a b c d",
		"bad \xff utf8":         "bad   utf8",
		strings.Repeat("é", 10): strings.Repeat("é", 3), // cut to 7 bytes: 3 whole characters
	} {
		if got := wire.Clean(in, 7); len(got) > 7 && in != "plain" || got != want && len(in) <= 7 {
			t.Errorf("Clean(%q, 7) = %q", in, got)
		}
		if got := wire.Clean(in, 100); strings.ContainsAny(got, "\n\x00\t") {
			t.Errorf("Clean(%q) kept control characters: %q", in, got)
		}
	}
	if got := wire.Clean(strings.Repeat("é", 10), 7); got != strings.Repeat("é", 3) {
		t.Errorf("cut: %q", got)
	}
}

// FuzzClean checks that whatever Clean returns passes the decoder's checks
// of the field it was cleaned for: a heartbeat whose strings were cleaned
// always decodes, and what decodes is what was cleaned.
func FuzzClean(f *testing.F) {
	f.Add("plain", "\x1b[31mLL-1\u202e", "bad \xff utf8\x00")
	f.Add(strings.Repeat("é", 200), strings.Repeat("\u2066", 100), strings.Repeat("x\n", 600))
	f.Fuzz(func(t *testing.T, short, ref, long string) {
		h := sampleHeartbeat(t)
		h.AgentVersion = wire.Clean(short, wire.MaxShortString)
		h.Lease = wire.Clean(short, wire.MaxShortString)
		h.Vault.CaseRefs[0].Ref = wire.Clean(ref, wire.MaxShortString)
		h.Posture[0].Evidence = wire.Clean(long, wire.MaxString)
		h.Events[0].CaseRef = wire.Clean(ref, wire.MaxShortString)
		h.Events[0].Detail = wire.Clean(long, wire.MaxString)
		body, err := wire.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.DecodeHeartbeat(body)
		if err != nil {
			t.Fatalf("cleaned strings refused: %v", err)
		}
		if got.AgentVersion != h.AgentVersion || got.Vault.CaseRefs[0].Ref != h.Vault.CaseRefs[0].Ref || got.Events[0].Detail != h.Events[0].Detail {
			t.Fatalf("decoded %+v, want %+v", got, h)
		}
	})
}

func TestTokens(t *testing.T) {
	pin := bytes.Repeat([]byte{7}, 32)
	for _, p := range [][]byte{nil, pin} {
		tok, hash, err := wire.NewToken(p)
		if err != nil {
			t.Fatal(err)
		}
		gotHash, gotPin, err := wire.ParseToken(" " + tok + "\n")
		if err != nil || gotHash != hash || !bytes.Equal(gotPin, p) {
			t.Errorf("ParseToken(%q) = %x %x %v", tok, gotHash, gotPin, err)
		}
	}
	for _, bad := range []string{"", "ck1.", "ck2.abc", "ck1.short", "ck1." + strings.Repeat("A", 43) + ".bad!", "ck1." + strings.Repeat("A", 43) + ".x.y"} {
		if _, _, err := wire.ParseToken(bad); !errors.Is(err, wire.ErrToken) {
			t.Errorf("ParseToken(%q): %v", bad, err)
		}
	}
	a, _, _ := wire.NewToken(nil)
	b, _, _ := wire.NewToken(nil)
	if a == b {
		t.Error("two tokens are the same")
	}
}

func TestDeviceIDs(t *testing.T) {
	id, err := wire.NewDeviceID()
	if err != nil || !wire.ValidDeviceID(id) {
		t.Fatalf("NewDeviceID = %q, %v", id, err)
	}
	for _, bad := range []string{"", "dev_", "dev_ABCDEFGHIJKLMNOPQRSTUVWXYZ", "xyz_abcdefghijklmnopqrstuvwx", id + "a"} {
		if wire.ValidDeviceID(bad) {
			t.Errorf("%q is valid", bad)
		}
	}
}

func TestPinnedTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	pin := wire.CertPin(srv.Certificate())
	get := func(pin []byte) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: wire.PinnedTLS(pin)}, Timeout: 5 * time.Second}
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(pin); err != nil {
		t.Fatalf("the right pin: %v", err)
	}
	wrong := bytes.Clone(pin)
	wrong[0] ^= 1
	if err := get(wrong); err == nil || !strings.Contains(err.Error(), "not the pinned") {
		t.Errorf("a wrong pin: %v", err)
	}
}

func FuzzDecodeHeartbeat(f *testing.F) {
	ok, _ := wire.Marshal(sampleHeartbeat(f))
	f.Add(ok)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := wire.DecodeHeartbeat(b)
		if err != nil {
			return
		}
		again, err := wire.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wire.DecodeHeartbeat(again); err != nil {
			t.Fatalf("an accepted heartbeat does not re-decode: %v", err)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	body, _ := wire.Marshal(sampleHeartbeat(f))
	b, _ := wire.Marshal(wire.Batch{V: 1, Heartbeats: []wire.SignedHeartbeat{{Body: body, Sig: wire.SignHeartbeat(priv, body)}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, err := wire.DecodeBatch(b)
		if err != nil {
			return
		}
		if len(batch.Heartbeats) == 0 || len(batch.Heartbeats) > wire.MaxBatch {
			t.Fatalf("accepted %d heartbeats", len(batch.Heartbeats))
		}
	})
}

func FuzzDecodeEnroll(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	b, _ := wire.Marshal(wire.EnrollRequest{V: 1, Token: "ck1.x", SigningKey: pub, Hostname: "h", OS: "linux", Arch: "amd64"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		wire.DecodeEnrollRequest(b)
		wire.DecodeEnrollReply(b)
		wire.DecodeReply(b)
		wire.ParseToken(string(b))
	})
}

// TestEventTypes pins the event types on the wire: servers store them and
// councils' queries name them, so renaming one is a protocol change.
func TestEventTypes(t *testing.T) {
	for got, want := range map[string]string{
		wire.EventVaultSealed:                          "vault.sealed",
		wire.EventVaultPlaintextFound:                  "vault.plaintext_found",
		wire.EventVaultSealFailed:                      "vault.seal_failed",
		wire.EventVaultRefused:                         "vault.refused",
		wire.EventVaultIndexRepaired:                   "vault.index_repaired",
		wire.EventVolumeApproved:                       "storage.volume_approved",
		wire.EventVolumeUnapproved:                     "storage.volume_unapproved",
		wire.EventVolumeRemoved:                        "storage.volume_removed",
		wire.EventVolumeBlocked:                        "storage.volume_blocked",
		wire.EventBlockFailed:                          "storage.block_failed",
		wire.EventSyncFolderFound:                      "sync.folder_found",
		wire.EventSyncFolderApproved:                   "sync.folder_approved",
		wire.EventUnannouncedStop:                      "agent.unannounced_stop",
		wire.EventCoalesced:                            "agent.coalesced",
		wire.EventSpoolFull:                            "agent.spool_full",
		wire.EventCommandRefused:                       "agent.command_refused",
		wire.EventAgentChannelFailed:                   "agent.channel_failed",
		wire.EventVaultUnlocked:                        "vault.unlocked",
		wire.EventVaultLocked:                          "vault.locked",
		wire.EventVaultIdentityWrapped:                 "vault.identity_wrapped",
		wire.EventVaultRewrapped:                       "vault.rewrapped",
		wire.EventVaultWiped:                           "vault.wiped",
		wire.PostureEvent("disk_encryption"):           "posture.disk_encryption",
		wire.PrefixSweep + wire.OutsideQuarantined:     "sweep.quarantined",
		wire.PrefixSync + wire.OutsideCaseFileFound:    "sync.case_file_found",
		wire.PrefixStorage + wire.OutsideSealedInPlace: "storage.sealed_in_place",
		wire.PrefixSweep + wire.OutsideActionFailed:    "sweep.action_failed",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func TestIsCaseFileOutside(t *testing.T) {
	for typ, want := range map[string]bool{
		"sweep.case_file_found":   true,
		"sync.quarantined":        true,
		"storage.sealed_in_place": true,
		"sweep.action_failed":     false, // found, but nothing was done: not counted as moved or sealed
		"vault.sealed":            false,
		"storage.volume_blocked":  false,
		"posture.quarantined":     false, // not a place outside the vault
		"quarantined":             false,
		"sweep.":                  false,
		"":                        false,
	} {
		if got := wire.IsCaseFileOutside(typ); got != want {
			t.Errorf("IsCaseFileOutside(%q) = %v, want %v", typ, got, want)
		}
	}
}
