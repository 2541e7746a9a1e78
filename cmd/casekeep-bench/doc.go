// Command casekeep-bench measures casekeep against its references and prints
// the figures and ratios in one run: the vault's sealing throughput against
// the stock age tool, time to protect, scale and crash safety; and the
// server's heartbeat ingest on SQLite and PostgreSQL against a raw insert of
// the same rows, and with --lease the lease renewals served beside them. See README.md, "Benchmarks".
package main
