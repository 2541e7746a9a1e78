package report

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/wire"
)

// Buckets the reporter owns in the agent's state store.
var (
	spoolBucket = []byte("report-spool")
	metaBucket  = []byte("report-meta")
	acksBucket  = []byte("report-acks") // command acknowledgements waiting for a heartbeat, by command ID
)

// acksPerHeartbeat bounds the acknowledgements one heartbeat carries (the
// protocol allows 64); the rest go in the next.
const acksPerHeartbeat = 32

// Keys in the meta bucket.
var (
	keyNextSeq  = []byte("next_seq")
	keyLastHash = []byte("last_hash")
	keyAcked    = []byte("acked")
	keySkipped  = []byte("skipped")
)

// brokenChain is the PrevHash of a heartbeat whose predecessor this agent
// no longer knows; it matches nothing, so the server records a gap.
var brokenChain = strings.Repeat("0", 64)

// errCorrupt means a spooled heartbeat's checksum does not match.
var errCorrupt = errors.New("spooled heartbeat is corrupt")

// spool is the durable queue of signed heartbeats: written and committed
// (with fsync) before it is sent, in seq order, and removed only once the
// server acknowledges it. A record is a SHA-256 of the rest, then the body
// length, the body and the signature.
type spool struct {
	store *state.Store
}

// meta is the spool's bookkeeping.
type meta struct {
	next     uint64 // the seq the next heartbeat gets
	lastHash string // hex hash of the last heartbeat made
	acked    uint64 // the last seq the server acknowledged
	skipped  int    // heartbeats not made while the spool was full
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func readMeta(tx *bolt.Tx) meta {
	m := meta{next: 1}
	b := tx.Bucket(metaBucket)
	if b == nil {
		return m
	}
	if n := u64(b.Get(keyNextSeq)); n > 0 {
		m.next = n
	}
	m.lastHash = string(b.Get(keyLastHash))
	m.acked = u64(b.Get(keyAcked))
	m.skipped = int(u64(b.Get(keySkipped)))
	return m
}

func writeMeta(tx *bolt.Tx, m meta) error {
	b, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	for k, v := range map[string][]byte{
		string(keyNextSeq): be(m.next), string(keyLastHash): []byte(m.lastHash),
		string(keyAcked): be(m.acked), string(keySkipped): be(uint64(m.skipped)),
	} {
		if err := b.Put([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func encodeRecord(body, sig []byte) []byte {
	rest := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	rest = append(rest, body...)
	rest = append(rest, sig...)
	sum := sha256.Sum256(rest)
	return append(sum[:], rest...)
}

func decodeRecord(rec []byte) (body, sig []byte, err error) {
	if len(rec) < sha256.Size+4 {
		return nil, nil, errCorrupt
	}
	sum, rest := rec[:sha256.Size], rec[sha256.Size:]
	if got := sha256.Sum256(rest); string(got[:]) != string(sum) {
		return nil, nil, errCorrupt
	}
	n := int(binary.BigEndian.Uint32(rest))
	if len(rest) != 4+n+64 {
		return nil, nil, errCorrupt
	}
	return rest[4 : 4+n], rest[4+n:], nil
}

// length returns how many heartbeats wait in the spool.
func spoolLen(tx *bolt.Tx) int {
	b := tx.Bucket(spoolBucket)
	if b == nil {
		return 0
	}
	c := b.Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0
	}
	return int(u64(last)-u64(first)) + 1
}

// pending reads spooled heartbeats in seq order: at most n, and no more
// than maxBytes of bodies (always at least one). A record that fails its
// checksum is dropped (and reported in dropped): the server will see the
// break in the chain rather than a forged heartbeat.
func (s *spool) pending(n, maxBytes int) (batch []wire.SignedHeartbeat, seqs []uint64, dropped []uint64, err error) {
	err = s.store.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(spoolBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		size := 0
		for k, v := c.First(); k != nil && len(batch) < n; k, v = c.Next() {
			body, sig, err := decodeRecord(v)
			if err != nil {
				dropped = append(dropped, u64(k))
				continue
			}
			if size += len(body); len(batch) > 0 && size > maxBytes {
				break
			}
			batch = append(batch, wire.SignedHeartbeat{Body: append([]byte(nil), body...), Sig: append([]byte(nil), sig...)})
			seqs = append(seqs, u64(k))
		}
		return nil
	})
	if err != nil || len(dropped) == 0 {
		return batch, seqs, dropped, err
	}
	err = s.store.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(spoolBucket)
		for _, seq := range dropped {
			if err := b.Delete(be(seq)); err != nil {
				return err
			}
		}
		return nil
	})
	return batch, seqs, dropped, err
}

// ack removes every heartbeat up to seq.
func (s *spool) ack(seq uint64) error {
	return s.store.Update(func(tx *bolt.Tx) error {
		m := readMeta(tx)
		if seq > m.acked {
			m.acked = seq
			if err := writeMeta(tx, m); err != nil {
				return err
			}
		}
		b := tx.Bucket(spoolBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil && u64(k) <= seq; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// renumber handles a server that holds more of this device than this spool
// ever made (the agent's state was lost, or restored from an old copy): the
// heartbeats waiting to be sent are given new seqs after above, rebuilt and
// signed again by remake, and chained from brokenChain, which matches
// nothing, so the server records one gap instead of taking them for
// replays. Nothing waiting is lost.
func (s *spool) renumber(above uint64, remake func(body []byte, seq uint64, prev string) ([]byte, []byte, error)) error {
	return s.store.Update(func(tx *bolt.Tx) error {
		m := readMeta(tx)
		if above < m.next {
			return nil // no longer needed
		}
		m.next, m.lastHash = above+1, brokenChain
		if b := tx.Bucket(spoolBucket); b != nil {
			type rec struct{ body []byte }
			var recs []rec
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if body, _, err := decodeRecord(v); err == nil {
					recs = append(recs, rec{append([]byte(nil), body...)})
				}
			}
			if err := tx.DeleteBucket(spoolBucket); err != nil {
				return err
			}
			nb, err := tx.CreateBucket(spoolBucket)
			if err != nil {
				return err
			}
			for _, r := range recs {
				body, sig, err := remake(r.body, m.next, m.lastHash)
				if err != nil {
					return err
				}
				if err := nb.Put(be(m.next), encodeRecord(body, sig)); err != nil {
					return err
				}
				m.next++
				m.lastHash = wire.Hash(body)
			}
		}
		return writeMeta(tx, m)
	})
}

// Forget removes from the state store st the spool, the acknowledgements
// waiting and the spool's bookkeeping: for a wiped device, once the server
// has acknowledged its last heartbeat.
func Forget(st *state.Store) error { return reset(st) }

// reset forgets the spool, the acknowledgements waiting and the
// bookkeeping (a new enrollment, or a wiped device).
func reset(st *state.Store) error {
	return st.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{spoolBucket, metaBucket, acksBucket} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
}

// status reads the spool's length and meta.
func (s *spool) status() (meta, int, error) {
	var m meta
	var n int
	err := s.store.View(func(tx *bolt.Tx) error {
		m = readMeta(tx)
		n = spoolLen(tx)
		return nil
	})
	return m, n, err
}

// append makes and spools the next heartbeat in one transaction: make is
// given the seq, the previous hash, the number of heartbeats skipped and
// the command acknowledgements waiting (which leave their bucket in the
// same transaction, so each is either waiting or in a spooled heartbeat),
// and returns the signed bytes. If the spool already holds max heartbeats,
// nothing is made and the skip is counted; full reports that.
func (s *spool) append(max int, make func(seq uint64, prev string, skipped int, acks []wire.CommandAck) (body, sig []byte, err error)) (seq uint64, full bool, err error) {
	err = s.store.Update(func(tx *bolt.Tx) error {
		m := readMeta(tx)
		if spoolLen(tx) >= max {
			m.skipped++
			full = true
			return writeMeta(tx, m)
		}
		acks, err := takeAcks(tx, acksPerHeartbeat)
		if err != nil {
			return err
		}
		body, sig, err := make(m.next, m.lastHash, m.skipped, acks)
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(spoolBucket)
		if err != nil {
			return err
		}
		if err := b.Put(be(m.next), encodeRecord(body, sig)); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		seq = m.next
		m.next++
		m.lastHash = wire.Hash(body)
		m.skipped = 0
		return writeMeta(tx, m)
	})
	return seq, full, err
}

// NextSeq returns the seq the next heartbeat made with this state store
// will get.
func NextSeq(st *state.Store) (uint64, error) {
	var m meta
	err := st.View(func(tx *bolt.Tx) error {
		m = readMeta(tx)
		return nil
	})
	return m.next, err
}

// queueAck keeps a command acknowledgement, durably, for the next
// heartbeat; one for the same command replaces it.
func (s *spool) queueAck(a wire.CommandAck) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.store.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(acksBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(a.ID), v)
	})
}

// takeAcks removes up to n waiting acknowledgements in tx and returns them.
// A damaged record is dropped: the server sends its command again.
func takeAcks(tx *bolt.Tx, n int) ([]wire.CommandAck, error) {
	b := tx.Bucket(acksBucket)
	if b == nil {
		return nil, nil
	}
	var out []wire.CommandAck
	var keys [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(keys) < n; k, v = c.Next() {
		var a wire.CommandAck
		if json.Unmarshal(v, &a) == nil && a.ID != "" {
			out = append(out, a)
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// acksWaiting counts the acknowledgements not yet in a heartbeat.
// ackPending reports whether an acknowledgement of the command id waits
// for a heartbeat or is in one in the spool.
func (s *spool) ackPending(id string) (bool, error) {
	found := false
	err := s.store.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(acksBucket); b != nil && b.Get([]byte(id)) != nil {
			found = true
			return nil
		}
		b := tx.Bucket(spoolBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			body, _, err := decodeRecord(v)
			if err != nil || found {
				return nil
			}
			var h struct {
				Acks []wire.CommandAck `json:"acks"`
			}
			if json.Unmarshal(body, &h) != nil {
				return nil
			}
			for _, a := range h.Acks {
				found = found || a.ID == id
			}
			return nil
		})
	})
	return found, err
}

func (s *spool) acksWaiting() (int, error) {
	n := 0
	err := s.store.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(acksBucket); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}
