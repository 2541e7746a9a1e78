// Package migrate lists a backend's embedded schema migrations: files named
// NNNN_what.sql (NNNN a positive number, unique), returned in ascending
// order. Each backend applies the ones its schema_migrations table does not
// list, in one transaction, when a store is opened; a migration once
// released is never edited, only followed by a new one.
package migrate
