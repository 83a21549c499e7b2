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
//
// # The KeyProvider an app implements
//
// The apps give Options.KeyProvider: the platform's keystore (Android Keystore, the iOS
// Keychain), which wraps the data key a second time and keeps the count of unlock attempts
// outside the app's files, so restoring those files neither resets the count nor brings a
// destroyed key back. Its five methods take and return only []byte, int64 and error, so a
// gomobile-bound app implements the interface directly:
//
//	Wrap(plaintext []byte) ([]byte, error)   // seal with the platform key; make one (count 0) if there is none
//	Unwrap(wrapped []byte) ([]byte, error)   // open what Wrap sealed; fail for anything else, and for everything after Destroy
//	CountUnlockAttempt() (int64, error)      // +1 and return the count; atomic across threads and processes, durable before it returns
//	ResetUnlockAttempts() error              // count = 0, after a right PIN
//	Destroy() error                          // delete the platform key and its count for good; no error if there is none
//
// Open calls CountUnlockAttempt before it checks the PIN, Destroy when the limit is reached,
// and Enroll calls Destroy before it makes a new key. FileKeyProvider is the command-line
// tablet's stand-in (a key file in the home); docs/security.md says what it cannot promise.
package clientlib
