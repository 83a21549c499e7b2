// Package clientlib is the tablet side of Samvær sync: a consultant's tablet, often offline,
// captures observations, checklist ticks and report sections, and syncs them later.
//
//   - tablet.go: opening an enrolled tablet, its options and its corrected clock.
//   - store.go: the local SQLite store (embedded migrations): the server-confirmed state of each
//     record, the outbox of pending changes, the dead letters, and the page-apply of a pull.
//   - capture.go: local edits; each is written together with its outbox entry in one transaction.
//   - view.go: what the tablet shows: confirmed state with pending edits rebased on top, status,
//     conflicts, rejected changes and the per-case digest.
//   - auth.go: enrollment (the device's Ed25519 key) and access tokens.
//   - sync.go: push, pull, and the mapping of wire errors.
//   - keys.go: encryption at rest: the data key, wrapped by the PIN (Argon2id) and the platform's
//     KeyProvider; the limit on wrong PINs; changing the PIN. store.go seals every blob with it.
//   - wipe.go: erasing the tablet.
//
// It imports syncer (the replication core it shares with the server, so both ends merge by the
// same rules), the generated wire types (gen/samvaer/v1), internal/records, internal/seal and
// internal/sqlitedb; never server/.
// The command-line tablet (samvaer tablet) and the mobile facade are built on it.
package clientlib
