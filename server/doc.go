// Package server is the Samvær sync server: the Connect handlers for sync and enrollment,
// authentication of devices, the SQLite store and its change log, encryption at rest under
// rotatable key-encryption keys (keys.go), and the operational plumbing (logging, metrics,
// health, graceful shutdown).
//
// It imports syncer (the replication core shared with the tablets), the generated wire types,
// internal/records, internal/seal and internal/sqlitedb; it never imports clientlib.
// cmd/samvaer wires it.
package server
