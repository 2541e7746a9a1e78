package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/casekeep/casekeep/server/store/storetest"
)

// The benchmark workload: batches of 100 heartbeats across 2,000 devices.
const benchDevices, benchBatch = 2000, 100

func BenchmarkIngest(b *testing.B) {
	s := open(b, freshDB(b))
	storetest.BenchIngest(b, s, benchDevices, benchBatch)
}

// BenchmarkQuery measures store.Query over a year of a fleet's history (see
// simfleet.History): 100 devices, or $CASEKEEP_BENCH_DEVICES. The history
// is loaded into a fresh database, or into the one $CASEKEEP_BENCH_QUERY_DSN
// names, which is kept and reused by later runs of the same size.
func BenchmarkQuery(b *testing.B) {
	dsn := os.Getenv("CASEKEEP_BENCH_QUERY_DSN")
	if dsn == "" {
		dsn = freshDB(b)
	}
	s := open(b, dsn)
	storetest.BenchQuery(b, s, storetest.BenchQueryDevices(b), nil)
	if conn, err := pgx.Connect(b.Context(), dsn); err == nil {
		var size string
		if conn.QueryRow(b.Context(), `SELECT pg_size_pretty(pg_database_size(current_database()))`).Scan(&size) == nil {
			b.Logf("database size: %s", size)
		}
		conn.Close(b.Context())
	}
}

// BenchmarkRawInsert writes the rows Ingest writes for the same workload
// (heartbeats, events and state changes by COPY, then the devices' state by
// an array statement; a device's case references do not change here, so
// Ingest writes no holdings after the first) with the same driver and one
// transaction per batch, but reads nothing, locks nothing and decides
// nothing: the ceiling for Ingest.
func BenchmarkRawInsert(b *testing.B) {
	dsn := freshDB(b)
	s := open(b, dsn) // the schema
	ctx := b.Context()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	write := func(batch storetest.Batch) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return rawWrite(ctx, tx, batch) })
		if err != nil {
			b.Fatal(err)
		}
	}
	storetest.BenchWrite(b, s, benchDevices, benchBatch, write)
}

func rawWrite(ctx context.Context, tx pgx.Tx, batch storetest.Batch) error {
	var hbs, evs, chs [][]any
	var (
		did                           []string
		dseq, dpv, dsf, dsb, dpf, dcr []int64
		dhash                         [][]byte
		dsent, drcv                   []time.Time
		dav, dph, drc, dde, dle       []string
		dco                           []bool
	)
	for i, h := range batch.Heartbeats {
		st := &h.State
		prev := h.PrevHash
		if prev == nil {
			prev = []byte{}
		}
		hbs = append(hbs, []any{h.DeviceID, int64(h.Seq), st.ReceivedAt, st.SentAt, h.Hash, prev, h.Body})
		if batch.Changed[i] {
			chs = append(chs, []any{h.DeviceID, st.ReceivedAt, int64(h.Seq), h.Hash, st.SentAt, st.AgentVersion,
				int64(st.PolicyVersion), st.PolicyHash, st.Recipient, st.SealedFiles, st.SealedBytes, st.PlaintextFiles,
				int64(st.CaseRefs), st.DiskEncryption, st.Compliant, st.Lease})
		}
		for j, e := range h.Events {
			evs = append(evs, []any{h.DeviceID, e.Time, int64(h.Seq), int32(j), e.Type, e.CaseRef, e.Detail})
		}
		did, dseq, dhash, dsent, drcv = append(did, h.DeviceID), append(dseq, int64(h.Seq)), append(dhash, h.Hash),
			append(dsent, st.SentAt), append(drcv, st.ReceivedAt)
		dav, dpv, dph, drc = append(dav, st.AgentVersion), append(dpv, int64(st.PolicyVersion)),
			append(dph, st.PolicyHash), append(drc, st.Recipient)
		dsf, dsb, dpf, dcr = append(dsf, st.SealedFiles), append(dsb, st.SealedBytes), append(dpf, st.PlaintextFiles),
			append(dcr, int64(st.CaseRefs))
		dde, dco, dle = append(dde, st.DiskEncryption), append(dco, st.Compliant), append(dle, st.Lease)
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"heartbeats", []string{"device_id", "seq", "received_at", "sent_at", "hash", "prev_hash", "body"}, hbs},
		{"events", []string{"device_id", "time", "seq", "idx", "type", "case_ref", "detail"}, evs},
		{"state_changes", []string{"device_id", "at", "seq", "hash", "sent_at", "agent_version", "policy_version",
			"policy_hash", "recipient", "sealed_files", "sealed_bytes", "plaintext_files", "case_refs",
			"disk_encryption", "compliant", "lease"}, chs},
	} {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return err
		}
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE devices AS d SET last_seq = u.seq, last_hash = u.hash, sent_at = u.sent_at,
			received_at = u.received_at, agent_version = u.agent_version, policy_version = u.policy_version,
			policy_hash = u.policy_hash, recipient = u.recipient, sealed_files = u.sealed_files,
			sealed_bytes = u.sealed_bytes, plaintext_files = u.plaintext_files, case_refs = u.case_refs,
			disk_encryption = u.disk_encryption, compliant = u.compliant, lease = u.lease
		FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::timestamptz[], $5::timestamptz[], $6::text[],
			$7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
			$14::text[], $15::boolean[], $16::text[])
			AS u (id, seq, hash, sent_at, received_at, agent_version, policy_version, policy_hash, recipient,
				sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease)
		WHERE d.id = u.id`, did, dseq, dhash, dsent, drcv, dav, dpv, dph, drc, dsf, dsb, dpf, dcr, dde, dco, dle)
	return tx.SendBatch(ctx, b).Close()
}
