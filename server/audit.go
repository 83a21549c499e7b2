package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/internal/sqltx"
)

// The audit log: security events and (later) every use of a child's data, in an append-only,
// hash-chained table. Each entry's hash covers a canonical encoding of all its columns and the
// hash of the entry before, so `audit verify` finds an entry that was edited, inserted or deleted.
// Entries carry ids and counts only: never text a person wrote, never a child's name.

// Kinds of audit events.
const (
	AuditDeviceEnrolled   = "device.enrolled"
	AuditTokenRefused     = "token.refused"
	AuditRequestRefused   = "request.refused"
	AuditDeviceRevoked    = "device.revoked"
	AuditWipeConfirmed    = "device.wiped"
	AuditPINFailed        = "tablet.pin_failed" // a wrong PIN on a tablet, reported at its next sync
	AuditUserDisabled     = "user.disabled"
	AuditUserEnabled      = "user.enabled"
	AuditPasswordSet      = "user.password_set"
	AuditSignIn           = "sign_in"
	AuditSignInFailed     = "sign_in.failed"
	AuditCaseAssigned     = "case.assigned"
	AuditCaseUnassigned   = "case.unassigned"
	AuditCaseClosed       = "case.closed"
	AuditCaseRead         = "case.read" // the access log: a person read a case or a report, with why
	AuditSigningKeyRotate = "keys.rotated"
	AuditCaseChanged      = "case.changed"     // records of a case were created or changed (counts, by whom, through which door)
	AuditCaseDeleted      = "case.deleted"     // records of a case were deleted (counts)
	AuditSearched         = "search"           // a person searched or listed personal data, with the criterion
	AuditExported         = "export"           // data left the server: a PDF, the parents' copy, CSV, the insight export
	AuditRetention        = "retention.run"    // the retention job deleted what its settings say (counts, not content)
	AuditCheckpoint       = "audit.checkpoint" // the retention job deleted the oldest entries up to here (signed)
	AuditSignInUnblocked  = "sign_in.unblocked"
	AuditFactorEnrolled   = "user.factor_enrolled" // a person set up a second factor
	AuditFactorsReset     = "user.factors_reset"   // an admin removed a person's second factor
	AuditOIDCSubjectSet   = "user.oidc_subject_set"
)

// AuditEvent is what an audit entry records. Detail holds non-sensitive keys and values such as
// counts, roles and reasons chosen from a fixed list: NEVER text a person wrote or a name.
type AuditEvent struct {
	Kind        string            `json:"kind"`
	ActorUserID string            `json:"actor_user_id,omitempty"`
	DeviceID    string            `json:"device_id,omitempty"`
	CaseID      string            `json:"case_id,omitempty"`
	Purpose     string            `json:"purpose,omitempty"`
	Detail      map[string]string `json:"detail,omitempty"`
}

// AuditEntry is a stored audit event.
type AuditEntry struct {
	ID   int64 `json:"id"`
	AtMs int64 `json:"at_ms"`
	AuditEvent
	Hash string `json:"hash"`
}

// Limits that keep audit entries small.
const (
	maxAuditField  = 200
	maxAuditDetail = 32
)

func (e AuditEvent) validate() error {
	if e.Kind == "" {
		return errors.New("audit event without a kind")
	}
	for _, v := range []string{e.Kind, e.ActorUserID, e.DeviceID, e.CaseID, e.Purpose} {
		if len(v) > maxAuditField {
			return errors.New("audit event field too long")
		}
	}
	if len(e.Detail) > maxAuditDetail {
		return errors.New("audit event detail too large")
	}
	for k, v := range e.Detail {
		if len(k) > maxAuditField || len(v) > maxAuditField {
			return errors.New("audit event detail too long")
		}
	}
	return nil
}

// encodeDetail is the stored, canonical form of a detail map: JSON with sorted keys.
func encodeDetail(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(d) // maps are encoded in key order
	return string(b)
}

// auditHash is SHA-256 over a canonical encoding of every column of an entry: integers as 8
// bytes big-endian, strings and blobs each prefixed with their length as 4 bytes big-endian. An
// entry with a sealed purpose adds the purpose's sealed content (not its wrapped data key, which
// a key rotation re-wraps), so the chain covers the purpose without holding it in the clear.
func auditHash(id, atMs int64, kind, actor, device, caseID, purpose, detail string, prev, sealedPurpose []byte) []byte {
	h := sha256.New()
	var n [8]byte
	putInt := func(v int64) { binary.BigEndian.PutUint64(n[:], uint64(v)); h.Write(n[:]) }
	putBytes := func(b []byte) { binary.BigEndian.PutUint32(n[:4], uint32(len(b))); h.Write(n[:4]); h.Write(b) }
	h.Write([]byte("samvaer-audit-v1"))
	putInt(id)
	putInt(atMs)
	for _, s := range []string{kind, actor, device, caseID, purpose, detail} {
		putBytes([]byte(s))
	}
	putBytes(prev)
	if sealedPurpose != nil {
		putBytes(sealedPurpose)
	}
	return h.Sum(nil)
}

// genesisHash is the prev_hash of the first entry.
var genesisHash = make([]byte, sha256.Size)

// purposeAD is the associated data of an entry's sealed purpose.
func purposeAD(id int64) []byte { return columnAD("audit_log.purpose", strconv.FormatInt(id, 10)) }

// appendAudit appends an event to the audit log inside the caller's write transaction, so the
// event and what it records commit together. The purpose is sealed (it is a person's own words);
// the entry's hash is anchored with the audit key.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, nowMs int64, e AuditEvent) error {
	tail, err := s.readAuditTail(ctx, tx)
	if err != nil {
		return err
	}
	return s.appendAuditTo(ctx, tx, nowMs, e, &tail)
}

// auditTail is the end of the audit chain as a write transaction sees it: the hash the next
// entry chains from and the id it takes. The transaction holds the write lock, so it may read the
// tail once (a push reads it with its first statement, pushStart) and append many entries.
type auditTail struct {
	prev   []byte
	nextID int64
}

// auditTailColumns reads, as three columns of one row, what auditTailOf needs: the chain's head,
// the sequence and the highest id.
func (s *Store) auditTailColumns() string {
	return `(SELECT hash FROM audit_head WHERE one = 1), (` + s.auditSequenceQuery() + `), (SELECT COALESCE(MAX(id), 0) FROM audit_log)`
}

// auditTailOf is the tail from auditTailColumns. As AUTOINCREMENT does, the next id is one more
// than the highest id ever assigned or present, so an id is never reused, also after the last
// entries were deleted.
func auditTailOf(prev []byte, seq sql.NullInt64, maxID int64) auditTail {
	if prev == nil {
		prev = genesisHash
	}
	return auditTail{prev: prev, nextID: max(seq.Int64, maxID) + 1}
}

// readAuditTail reads the audit chain's tail in the caller's write transaction.
func (s *Store) readAuditTail(ctx context.Context, tx *sql.Tx) (auditTail, error) {
	var prev []byte
	var seq sql.NullInt64
	var maxID int64
	if err := tx.QueryRowContext(ctx, `SELECT `+s.auditTailColumns()).Scan(&prev, &seq, &maxID); err != nil {
		return auditTail{}, fmt.Errorf("read audit head: %w", err)
	}
	return auditTailOf(prev, seq, maxID), nil
}

// appendAuditTo is appendAudit at a tail the transaction read, which it moves past the entry.
func (s *Store) appendAuditTo(ctx context.Context, tx *sql.Tx, nowMs int64, e AuditEvent, tail *auditTail) error {
	if err := e.validate(); err != nil {
		return err
	}
	id, prev := tail.nextID, tail.prev
	detail := encodeDetail(e.Detail)
	// The entry's writes wait for the transaction's next statement that needs an answer.
	later := sqltx.Later(ctx)
	if s.pg != nil {
		if _, err := tx.ExecContext(later, `UPDATE audit_sequence SET seq = ? WHERE one = 1`, id); err != nil {
			return fmt.Errorf("append audit entry: %w", err)
		}
	}
	var sealed, content []byte
	if e.Purpose != "" {
		var err error
		if sealed, err = s.sealer.Seal([]byte(e.Purpose), purposeAD(id)); err != nil {
			return fmt.Errorf("seal audit purpose: %w", err)
		}
		if content, err = seal.SealedContent(sealed); err != nil {
			return err
		}
	}
	hash := auditHash(id, nowMs, e.Kind, e.ActorUserID, e.DeviceID, e.CaseID, "", detail, prev, content)
	if _, err := tx.ExecContext(later, `INSERT INTO audit_log (id, at_ms, kind, actor_user, device_id, case_id, purpose, detail, prev_hash, hash, mac, purpose_sealed)
		VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?)`, id, nowMs, e.Kind, e.ActorUserID, e.DeviceID, e.CaseID, detail, prev, hash, auditMAC(s.auditKey, hash), sealed); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	if _, err := tx.ExecContext(later, `INSERT INTO audit_head (one, id, hash) VALUES (1, ?, ?)
		ON CONFLICT (one) DO UPDATE SET id = excluded.id, hash = excluded.hash`, id, hash); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	tail.prev, tail.nextID = hash, id+1
	return nil
}

// auditSequenceQuery reads the highest audit entry id ever assigned (no row before the first).
func (s *Store) auditSequenceQuery() string {
	if s.pg != nil {
		return `SELECT seq FROM audit_sequence WHERE one = 1`
	}
	return `SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'`
}

// auditSequence is the highest audit entry id ever assigned: SQLite's AUTOINCREMENT counter, or
// on PostgreSQL the audit_sequence row appendAudit keeps the same way.
func (s *Store) auditSequence(ctx context.Context, tx *sql.Tx) (int64, error) {
	var seq int64
	if err := tx.QueryRowContext(ctx, s.auditSequenceQuery()).Scan(&seq); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read audit sequence: %w", err)
	}
	return seq, nil
}

// Audit appends one event to the audit log in a transaction of its own.
func (s *Store) Audit(ctx context.Context, e AuditEvent) error {
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error { return s.appendAudit(ctx, tx, s.nowMs(), e) })
}

// openPurpose returns an entry's purpose: the sealed one, or the plaintext column of an entry
// written before purposes were sealed.
func (s *Store) openPurpose(id int64, plain string, sealed []byte) (string, error) {
	if sealed == nil {
		return plain, nil
	}
	b, err := s.sealer.Open(sealed, purposeAD(id))
	if err != nil {
		return "", fmt.Errorf("audit entry %d: purpose: %w", id, err)
	}
	return string(b), nil
}

// AuditFilter selects audit entries; zero fields select everything.
type AuditFilter struct {
	Since, Until time.Time // Until is exclusive
	UserID       string    // the actor
	DeviceID     string
	CaseID       string
	Kinds        []string // any of these kinds (none: every kind)
	Limit        int      // 0: no limit
	Newest       bool     // newest first (with Limit: the newest entries), instead of oldest first
}

// AuditEntries lists audit entries matching f, oldest first unless f.Newest.
func (s *Store) AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if !f.Since.IsZero() {
		add("at_ms >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add("at_ms < ?", f.Until.UnixMilli())
	}
	if f.UserID != "" {
		add("actor_user = ?", f.UserID)
	}
	if f.DeviceID != "" {
		add("device_id = ?", f.DeviceID)
	}
	if f.CaseID != "" {
		add("case_id = ?", f.CaseID)
	}
	if len(f.Kinds) > 0 {
		where = append(where, "kind IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.Kinds)), ", ")+")")
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	query := `SELECT id, at_ms, kind, actor_user, device_id, case_id, purpose, purpose_sealed, detail, hash FROM audit_log`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Newest {
		query += " ORDER BY id DESC"
	} else {
		query += " ORDER BY id"
	}
	if f.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var detail, purpose string
		var hash, sealed []byte
		if err := rows.Scan(&e.ID, &e.AtMs, &e.Kind, &e.ActorUserID, &e.DeviceID, &e.CaseID, &purpose, &sealed, &detail, &hash); err != nil {
			return nil, err
		}
		if e.Purpose, err = s.openPurpose(e.ID, purpose, sealed); err != nil {
			return nil, err
		}
		if detail != "{}" {
			if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
				return nil, fmt.Errorf("audit entry %d: detail: %w", e.ID, err)
			}
		}
		e.Hash = hex.EncodeToString(hash)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditVerification is the outcome of checking the audit log.
type AuditVerification struct {
	Entries  int64  `json:"entries"`
	HeadID   int64  `json:"head_id"`
	HeadHash string `json:"head_hash"`
	// Problems name each entry that fails a check; empty when the log is intact.
	Problems []string `json:"problems,omitempty"`
}

// VerifyAudit walks the audit log and checks that ids run without gaps, that each entry's
// prev_hash is the hash of the entry before, that each hash matches the entry's columns, that
// each hash carries the audit key's MAC, and that the last entry is the one the head and the id
// sequence name. Entries the retention job deleted from the start of the log are accounted for
// by its signed checkpoint: the first remaining entry must follow the last deleted one exactly.
func (s *Store) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var v AuditVerification
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, at_ms, kind, actor_user, device_id, case_id, purpose, purpose_sealed, detail, prev_hash, hash, mac
			FROM audit_log ORDER BY id`)
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		defer rows.Close()
		prev, lastID := genesisHash, int64(0)
		var firstID int64
		var firstPrev []byte
		checkpoints := map[int64]string{} // deleted through id -> hash of that entry, from intact checkpoints
		problem := func(format string, args ...any) {
			if len(v.Problems) < 100 {
				v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
			}
		}
		for rows.Next() {
			var id, at int64
			var kind, actor, device, caseID, purpose, detail string
			var sealed, prevHash, hash, mac []byte
			if err := rows.Scan(&id, &at, &kind, &actor, &device, &caseID, &purpose, &sealed, &detail, &prevHash, &hash, &mac); err != nil {
				return err
			}
			v.Entries++
			if firstID == 0 {
				// The start of the log is checked against the checkpoints below.
				firstID, firstPrev = id, prevHash
			} else {
				if id != lastID+1 {
					problem("entries %d to %d are missing (deleted)", lastID+1, id-1)
				}
				if !bytes.Equal(prevHash, prev) {
					problem("entry %d does not follow the entry before it (an entry was inserted, deleted or edited)", id)
				}
			}
			var content []byte
			if sealed != nil {
				if content, err = seal.SealedContent(sealed); err != nil {
					problem("entry %d's purpose is damaged", id)
				}
			}
			intact := bytes.Equal(hash, auditHash(id, at, kind, actor, device, caseID, purpose, detail, prevHash, content))
			if !intact {
				problem("entry %d was changed after it was written", id)
			}
			anchored := hmac.Equal(mac, auditMAC(s.auditKey, hash))
			if !anchored {
				problem("entry %d does not carry the audit key's signature (it was written or rewritten without the key)", id)
			}
			if kind == AuditCheckpoint && intact && anchored {
				var d map[string]string
				if json.Unmarshal([]byte(detail), &d) == nil {
					if through, err := strconv.ParseInt(d["deleted_through"], 10, 64); err == nil {
						checkpoints[through] = d["last_hash"]
					}
				}
			}
			prev, lastID = hash, id
		}
		if err := rows.Err(); err != nil {
			return err
		}
		switch {
		case firstID == 1:
			if !bytes.Equal(firstPrev, genesisHash) {
				problem("entry 1 does not start the log")
			}
		case firstID > 1:
			if h, ok := checkpoints[firstID-1]; !ok || h != hex.EncodeToString(firstPrev) {
				problem("entries 1 to %d are missing and no signed retention checkpoint accounts for them", firstID-1)
			}
		}
		v.HeadID, v.HeadHash = lastID, hex.EncodeToString(prev)
		seq, err := s.auditSequence(ctx, tx)
		if err != nil {
			return err
		}
		if seq != lastID {
			problem("entries %d to %d at the end are missing (deleted)", lastID+1, seq)
		}
		var headID int64
		var headHash []byte
		err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_head WHERE one = 1`).Scan(&headID, &headHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read audit head: %w", err)
		}
		if headID != lastID || (lastID > 0 && !bytes.Equal(headHash, prev)) {
			problem("the last entry is %d but the log's head names entry %d", lastID, headID)
		}
		return nil
	})
	return v, err
}

// auditCount is a detail value for a count.
func auditCount(n int64) string { return fmt.Sprint(n) }
