// Package server is the Samvær sync server: the Connect handlers for sync and enrollment,
// authentication of devices, the SQLite store and its change log, and the operational
// plumbing (logging, metrics, health, graceful shutdown).
//
// It imports syncer (the replication core shared with the tablets), the generated wire types
// and internal/sqlitedb; it never imports clientlib. cmd/samvaer wires it.
package server
