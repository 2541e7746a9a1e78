package vault

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/casekeep/casekeep/agent/state"
)

// Buckets the vault owns in the agent's state store.
var (
	filesBucket   = []byte("vault-files")
	refusedBucket = []byte("vault-refused")
	metaBucket    = []byte("vault-meta")
)

// tempKeyName is the key, in metaBucket, of the secret that tags the
// vault's temporary files (see tempName).
var tempKeyName = []byte("temp-name-key")

// loadTempKey returns the secret that tags the vault's temporary files,
// making it the first time.
func loadTempKey(st *state.Store) ([]byte, error) {
	var key []byte
	err := st.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := b.Get(tempKeyName); len(v) == 32 {
			key = slices.Clone(v)
			return nil
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		return b.Put(tempKeyName, key)
	})
	if err != nil {
		return nil, fmt.Errorf("vault: the key of its temporary names: %w", err)
	}
	return key, nil
}

// Entry is a sealed file in the index.
type Entry struct {
	Path     string    // relative to the cache folder, "/"-separated
	CaseRef  string    // from the policy's pattern; "" if it did not match
	Size     int64     // plaintext bytes
	SealedAt time.Time // when it was sealed (or first indexed, if found sealed)
	// Unverified is set for a file sealed while the device identity was
	// locked: its structure was checked (a whole age file, with a stanza
	// for each recipient), but not that its header opens with the
	// identity. The first scan after an unlock checks that.
	Unverified bool
}

// record is an index entry as stored. CipherSize and ModTime let a scan tell
// an unchanged sealed file from a replaced one without reading it.
type record struct {
	CaseRef    string    `json:"ref,omitempty"`
	Size       int64     `json:"size"`
	SealedAt   time.Time `json:"sealed_at"`
	CipherSize int64     `json:"csize"`
	ModTime    int64     `json:"mtime"`
	Unverified bool      `json:"unverified,omitempty"` // see Entry.Unverified
}

// ReadIndex returns every sealed file in the index of the state store, by
// path. It reads the store only, so it works while an agent runs.
func ReadIndex(store *state.Store) ([]Entry, error) {
	recs, err := (&index{store: store}).all()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(recs))
	for p, r := range recs {
		out = append(out, Entry{Path: p, CaseRef: r.CaseRef, Size: r.Size, SealedAt: r.SealedAt, Unverified: r.Unverified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

type index struct {
	store *state.Store
}

func (ix *index) all() (map[string]record, error) {
	recs := map[string]record{}
	err := ix.store.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(filesBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				// A damaged record is dropped; the next scan re-adds the file.
				return nil
			}
			recs[string(k)] = r
			return nil
		})
	})
	return recs, err
}

// put stores records and deletes the paths in del, in one transaction.
func (ix *index) put(recs map[string]record, del []string) error {
	if len(recs) == 0 && len(del) == 0 {
		return nil
	}
	return ix.store.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(filesBucket)
		if err != nil {
			return err
		}
		for _, p := range del {
			if err := b.Delete([]byte(p)); err != nil {
				return err
			}
		}
		// In key order: bbolt keeps a node's keys sorted in a slice until the
		// commit splits it, so random-order inserts of a large batch cost
		// O(n²) copying (21 s for 100,000); sorted ones append.
		for _, p := range slices.Sorted(maps.Keys(recs)) {
			v, err := json.Marshal(recs[p])
			if err != nil {
				return err
			}
			if err := b.Put([]byte(p), v); err != nil {
				return fmt.Errorf("index: %w", err)
			}
		}
		return nil
	})
}

// refused returns the paths already reported as refused, with the reason.
func (ix *index) refused() (map[string]string, error) {
	out := map[string]string{}
	err := ix.store.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(refusedBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
}

// setRefused records the refused paths, replacing the previous set.
func (ix *index) setRefused(m map[string]string) error {
	return ix.store.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(refusedBucket); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		b, err := tx.CreateBucket(refusedBucket)
		if err != nil {
			return err
		}
		for k, v := range m {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Summary is what the cache holds, as a heartbeat reports it: counts, never
// names.
type Summary struct {
	Files     int64            // sealed files
	Bytes     int64            // their plaintext bytes
	Plaintext int64            // plaintext files waiting to be sealed
	CaseRefs  map[string]int64 // sealed files per case reference
}

// Summary counts the sealed files in the index by case reference, and the
// plaintext waiting to be sealed.
func (v *Vault) Summary() (Summary, error) {
	s, err := IndexSummary(v.cfg.Store)
	s.Plaintext = int64(v.sched.pending())
	return s, err
}

// IndexSummary counts the sealed files in a state store's index by case
// reference: the vault's last known state, readable while no vault is open
// (at start, or while the cache is reopened for a new policy). Plaintext
// is not known without a scan and reads 0.
func IndexSummary(st *state.Store) (Summary, error) {
	s := Summary{CaseRefs: map[string]int64{}}
	recs, err := (&index{store: st}).all()
	if err != nil {
		return s, err
	}
	for _, r := range recs {
		s.Files++
		s.Bytes += r.Size
		if r.CaseRef != "" {
			s.CaseRefs[r.CaseRef]++
		}
	}
	return s, nil
}
