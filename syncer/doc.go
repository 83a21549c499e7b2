// Package syncer is the replication core of Samvær sync, shared by the server and the tablets so
// that both ends compute the same result: the record schema and its merge rules, hybrid logical
// clocks, record state, the server-side merge of a pushed change, and the state digest.
//
// It is pure Go with no I/O: it never touches a database, a network or a clock of its own (time
// is passed in). It imports only the generated wire types (gen/samvaer/v1), which import nothing
// of ours; server/ and clientlib/ import it, never the reverse.
package syncer
