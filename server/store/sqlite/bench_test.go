package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/casekeep/casekeep/server/store/storetest"
)

// The benchmark workload: batches of 100 heartbeats across 2,000 devices.
const benchDevices, benchBatch = 2000, 100

// benchPath is where a benchmark's database goes: a fresh folder under
// $TMPDIR.
func benchPath(b *testing.B) string { return filepath.Join(b.TempDir(), "casekeep.db") }

func BenchmarkIngest(b *testing.B) {
	s, err := Open(benchPath(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchIngest(b, s, benchDevices, benchBatch)
}

// BenchmarkQuery measures store.Query over a year of a fleet's history (see
// simfleet.History): 100 devices, or $CASEKEEP_BENCH_DEVICES. The history
// is loaded into a fresh file, or into $CASEKEEP_BENCH_QUERY_DB, which is
// kept and reused by later runs of the same size.
func BenchmarkQuery(b *testing.B) {
	path := os.Getenv("CASEKEEP_BENCH_QUERY_DB")
	if path == "" {
		path = benchPath(b)
	}
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Checkpoint the WAL once a simulated day of loading: the background
	// checkpointer can copy pages back while the load runs, but it can
	// never restart the WAL with a writer always busy, so the WAL would
	// grow by the whole load.
	checkpoint := func() error {
		var busy, log, done int
		if err := s.c.QueryRowContext(b.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done); err != nil {
			return err
		}
		if busy != 0 {
			b.Logf("WAL checkpoint incomplete: %d of %d frames", done, log)
		}
		return nil
	}
	storetest.BenchQuery(b, s, storetest.BenchQueryDevices(b), checkpoint)
	s.Close() // and truncate the WAL, to measure the file
	if fi, err := os.Stat(path); err == nil {
		b.Logf("database file: %.1f MiB", float64(fi.Size())/(1<<20))
	}
}

// BenchmarkRawInsert writes the rows Ingest writes for the same workload
// (heartbeats, events, state changes, device state; a device's case
// references do not change here, so Ingest writes no holdings after the
// first) with the same driver, prepared statements and one transaction per
// batch, but reads nothing and decides nothing: the ceiling for Ingest.
func BenchmarkRawInsert(b *testing.B) {
	s, err := Open(benchPath(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	ps := &s.stmts
	write := func(batch storetest.Batch) {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		hb, ch, ev, up := tx.Stmt(ps.heartbeat), tx.Stmt(ps.change), tx.Stmt(ps.event), tx.Stmt(ps.update)
		must := func(_ any, err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
		for i, h := range batch.Heartbeats {
			st := &h.State
			must(hb.Exec(h.DeviceID, int64(h.Seq), micros(st.ReceivedAt), micros(st.SentAt), h.Hash, nz(h.PrevHash), h.Body))
			if batch.Changed[i] {
				must(ch.Exec(h.DeviceID, micros(st.ReceivedAt), int64(h.Seq), h.Hash, micros(st.SentAt),
					st.AgentVersion, st.PolicyVersion, st.PolicyHash, st.Recipient, st.SealedFiles, st.SealedBytes,
					st.PlaintextFiles, st.CaseRefs, st.DiskEncryption, st.Compliant, st.Lease, st.OfflineCopy))
			}
			for j, e := range h.Events {
				must(ev.Exec(h.DeviceID, micros(e.Time), int64(h.Seq), j, e.Type, e.CaseRef, e.Detail))
			}
			must(up.Exec(int64(h.Seq), h.Hash, micros(st.SentAt), micros(st.ReceivedAt), st.AgentVersion,
				st.PolicyVersion, st.PolicyHash, st.Recipient, st.SealedFiles, st.SealedBytes, st.PlaintextFiles,
				st.CaseRefs, st.DiskEncryption, st.Compliant, st.Lease, st.OfflineCopy, []byte(nil), "", nil, 0, nil, h.DeviceID))
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	storetest.BenchWrite(b, s, benchDevices, benchBatch, write)
}

func nz(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
