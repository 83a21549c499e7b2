// Package records keeps record state in SQLite the same way on both ends: a table
// records(id, type, case_id, visit_id, state) with one row per record, state the record's
// CommittedChange (all its fields, sorted) sealed by the store's seal.Sealer and bound to the
// record's id (StateAD), so a state moved to another row does not open. The server and the
// tablet each create the table in their own migrations and read it through these functions, so
// the two stores cannot drift apart and their digests (over the plaintext state) compare. It
// imports syncer, internal/seal and the generated wire types; server and clientlib import it.
package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

// Querier is what *sql.DB, *sql.Tx and *sql.Conn offer.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// VisitOf is the visit a record belongs to, stored in the visit_id column: the id itself for a
// visit, its visit_id field for a checklist item, report or observation, "" otherwise.
func VisitOf(rec *v1.CommittedChange) string {
	if rec.GetRecord().GetType() == syncer.TypeVisit {
		return rec.Record.Id
	}
	return syncer.Value(rec, "visit_id")
}

// StateAD is the associated data of a record's stored state: it binds the ciphertext to the
// record's row.
func StateAD(id string) []byte { return []byte("record-state|" + id) }

// Encode returns the stored form of a record's state.
func Encode(s seal.Sealer, rec *v1.CommittedChange) ([]byte, error) {
	plain, err := proto.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record state: %w", err)
	}
	return s.Seal(plain, StateAD(rec.GetRecord().GetId()))
}

// Decode reads the stored state of record id.
func Decode(s seal.Sealer, id string, blob []byte) (*v1.CommittedChange, error) {
	plain, err := s.Open(blob, StateAD(id))
	if err != nil {
		return nil, fmt.Errorf("open state of record %s: %w", id, err)
	}
	rec := new(v1.CommittedChange)
	if err := proto.Unmarshal(plain, rec); err != nil {
		return nil, fmt.Errorf("decode record state: %w", err)
	}
	if rec.GetRecord().GetId() != id {
		return nil, fmt.Errorf("record %s holds the state of another record", id)
	}
	return rec, nil
}

// Load returns a record's state, or nil when the store does not hold it.
func Load(ctx context.Context, q Querier, s seal.Sealer, id string) (*v1.CommittedChange, error) {
	var blob []byte
	err := q.QueryRowContext(ctx, `SELECT state FROM records WHERE id = ?`, id).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	return Decode(s, id, blob)
}

// Each calls fn with every record a query selects; the query selects the id and state columns.
func Each(ctx context.Context, q Querier, s seal.Sealer, fn func(*v1.CommittedChange) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return err
		}
		rec, err := Decode(s, id, blob)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Query returns every record a query selects (id and state columns).
func Query(ctx context.Context, q Querier, s seal.Sealer, query string, args ...any) ([]*v1.CommittedChange, error) {
	var out []*v1.CommittedChange
	err := Each(ctx, q, s, func(rec *v1.CommittedChange) error { out = append(out, rec); return nil }, query, args...)
	return out, err
}

// Digest is the digest of what a device that holds the case keeps of it at nowMs: its records in
// id order as syncer.HeldState leaves them under syncer.DefaultRetention (a delivered report's
// family without what a person wrote), through syncer.Digester over the plaintext. Both ends
// compute it the same way, so equal means the tablet holds what it should hold, also after its
// purge. Run it in a read transaction so it sees one snapshot.
func Digest(ctx context.Context, q Querier, s seal.Sealer, caseID string, nowMs int64) (string, error) {
	recs, err := Query(ctx, q, s, `SELECT id, state FROM records WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return "", err
	}
	d := syncer.NewDigester()
	for _, rec := range syncer.HeldState(recs, nowMs, syncer.DefaultRetention) {
		d.Add(rec)
	}
	return d.Sum(), nil
}

// EmptyDigest is the digest of a case a device holds nothing of.
func EmptyDigest() string { return syncer.NewDigester().Sum() }
