package clientlib

import (
	"context"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/internal/sqlitedb"
	"github.com/samvaer/sync/syncer"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Files in a tablet's home directory.
const (
	dbFile  = "tablet.db"
	keyFile = "device.key"
)

// Keys of the meta table.
const (
	metaDevice      = "device_id"
	metaUser        = "user_id"
	metaUserName    = "user_name"
	metaServer      = "server_url"
	metaCursor      = "cursor"
	metaNextSeq     = "next_seq"
	metaHLC         = "hlc"
	metaClockOffset = "clock_offset_ms"
	metaLastSync    = "last_sync_ms"
	metaLastContact = "last_contact_ms" // the last successful sync: the lock after no contact counts from it
	metaKnownCases  = "known_cases"     // JSON list: the cases the tablet holds in full
)

// store is the tablet's SQLite database. Exported methods of Tablet own the transactions; the
// helpers here take the transaction (or a read pool) they run in.
type store struct {
	db   *sqlitedb.DB
	keys seal.Sealer // the data key; set once the tablet is unlocked
}

// useKey sets the data key that seals what the store holds.
func (s *store) useKey(dataKey []byte) error {
	k, err := seal.NewKey(dataKey)
	if err != nil {
		return err
	}
	s.keys = k
	return nil
}

func openStore(home string) (*store, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("make tablet home: %w", err)
	}
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	// secure_delete: a purged or confirmed record's bytes do not linger in free pages.
	db, err := sqlitedb.Open(filepath.Join(home, dbFile), sqlitedb.Options{Migrations: migrations, SecureDelete: true, ReadConns: 2})
	if err != nil {
		return nil, err
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func readMeta(ctx context.Context, q querier) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, rows.Err()
}

// setMeta writes key, value pairs.
func setMeta(ctx context.Context, q querier, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if _, err := q.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, kv[i], kv[i+1]); err != nil {
			return fmt.Errorf("write setting %s: %w", kv[i], err)
		}
	}
	return nil
}

// metaValue reads one setting; found is false when it was never written.
func metaValue(ctx context.Context, q querier, key string) (value string, found bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, err
}

func metaInt(ctx context.Context, q querier, key string) (int64, error) {
	v, found, err := metaValue(ctx, q, key)
	if err != nil {
		return 0, fmt.Errorf("read setting %s: %w", key, err)
	}
	if !found {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read setting %s: %w", key, err)
	}
	return n, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The stored forms of records, changes and merge bases. Everything a person wrote passes
// through these functions and reaches SQLite sealed with the data key, bound to its row: a
// record's state to the record id (records.StateAD), an outbox change and its merge bases to the
// device seq (the same associated data holds when a refused change moves to dead_letters with
// its seq).

func changeAD(seq int64) []byte { return []byte("change|" + itoa(seq)) }
func basesAD(seq int64) []byte  { return []byte("bases|" + itoa(seq)) }

// deviceKeyAD binds the sealed device key to its file.
var deviceKeyAD = []byte("device-key")

func (s *store) encodeState(rec *v1.CommittedChange) ([]byte, error) {
	return records.Encode(s.keys, rec)
}

func (s *store) decodeState(id string, blob []byte) (*v1.CommittedChange, error) {
	return records.Decode(s.keys, id, blob)
}

func (s *store) encodeChange(c *v1.Change) ([]byte, error) {
	plain, err := proto.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode change: %w", err)
	}
	return s.keys.Seal(plain, changeAD(c.DeviceSeq))
}

func (s *store) decodeChange(seq int64, blob []byte) (*v1.Change, error) {
	plain, err := s.keys.Open(blob, changeAD(seq))
	if err != nil {
		return nil, fmt.Errorf("open change %d: %w", seq, err)
	}
	c := new(v1.Change)
	if err := proto.Unmarshal(plain, c); err != nil {
		return nil, fmt.Errorf("decode change %d: %w", seq, err)
	}
	return c, nil
}

func (s *store) encodeBases(seq int64, bases map[string]string) ([]byte, error) {
	if len(bases) == 0 {
		return nil, nil
	}
	plain, err := json.Marshal(bases)
	if err != nil {
		return nil, err
	}
	return s.keys.Seal(plain, basesAD(seq))
}

func (s *store) decodeBases(seq int64, blob []byte) (map[string]string, error) {
	if len(blob) == 0 {
		return nil, nil
	}
	plain, err := s.keys.Open(blob, basesAD(seq))
	if err != nil {
		return nil, fmt.Errorf("open merge bases of change %d: %w", seq, err)
	}
	var bases map[string]string
	if err := json.Unmarshal(plain, &bases); err != nil {
		return nil, fmt.Errorf("decode merge bases: %w", err)
	}
	return bases, nil
}

// applyPage applies one pulled page in the caller's write transaction: every committed change
// onto the confirmed record state, the clock past every field's HLC, the new cursor, and the
// removal of acknowledged outbox entries the cursor has now reached (their effect is confirmed).
func (t *Tablet) applyPage(ctx context.Context, tx *sql.Tx, page *v1.PullResponse, known []string) error {
	p, err := t.store.preparePage(page)
	if err != nil {
		return err
	}
	_, err = t.applyPulled(ctx, tx, p, known)
	return err
}

// pulledPage is a pulled page made ready to write: its changes, snapshot first, each with the
// sealed state its record has when the tablet does not hold it yet.
type pulledPage struct {
	*v1.PullResponse
	changes []*v1.CommittedChange
	fresh   []freshState
}

// freshState is a record's stored form made from one committed change alone.
type freshState struct {
	blob  []byte
	visit string
}

// preparePage seals the fresh state of every change of a page. It touches no database: the
// pull runs it as the page arrives, beside the writing of the page before (most pulled changes
// make records the tablet does not have yet — a new tablet's first sync, a new visit, its own
// new observations coming back — so most of these states are what the writer stores).
func (s *store) preparePage(page *v1.PullResponse) (*pulledPage, error) {
	p := &pulledPage{PullResponse: page, changes: slices.Concat(page.Snapshot, page.Changes)}
	p.fresh = make([]freshState, len(p.changes))
	for i, ch := range p.changes {
		rec := syncer.ApplyCommitted(nil, ch)
		blob, err := s.encodeState(rec)
		if err != nil {
			return nil, err
		}
		p.fresh[i] = freshState{blob, records.VisitOf(rec)}
	}
	return p, nil
}

// applyPulled is applyPage, reporting whether it purged a case (the caller then checkpoints the
// WAL so no copy of its pages lingers there).
func (t *Tablet) applyPulled(ctx context.Context, tx *sql.Tx, page *pulledPage, known []string) (purged bool, err error) {
	err = t.applyPulledPage(ctx, tx, page, known, &purged)
	return purged || len(page.PurgeCases) > 0, err
}

func (t *Tablet) applyPulledPage(ctx context.Context, tx *sql.Tx, page *pulledPage, known []string, purged *bool) error {
	changes := page.changes
	nextCursor := page.NextCursor
	cursor, err := metaInt(ctx, tx, metaCursor)
	if err != nil {
		return err
	}
	if nextCursor < cursor {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "The server's change log is behind this tablet (%d < %d); was the server restored from an older backup? Ask an admin.", nextCursor, cursor)
	}
	acked, err := metaInt(ctx, tx, metaAckedSeq)
	if err != nil {
		return err
	}
	if page.NextCursorMark != 0 && page.DeviceLastSeq < acked {
		// The server acknowledged more of this tablet's changes than it holds now.
		return &errHistory{detail: &v1.HistoryMismatch{Kind: v1.HistoryMismatch_KIND_SERVER_RESTORED, DeviceLastSeq: page.DeviceLastSeq},
			cause: syncer.Errorf(syncer.CodeFailedPrecondition, "The server holds this tablet's changes up to %d but had acknowledged up to %d: it was restored from an older backup. The tablet sends them again.", page.DeviceLastSeq, acked)}
	}
	if resync, err := metaInt(ctx, tx, metaResync); err != nil {
		return err
	} else if resync == 1 {
		// The first page after the server lost the tablet's position: the records held came
		// from commits the server may no longer have, so they are replaced by what it sends.
		// A pull from the start names every case the device may hold now (known): a case the
		// restore took out of the user's scope (an assignment made after the backup) is purged
		// as after an unassignment — its waiting, kept and refused changes and drafts too, which
		// replacing the records alone would leave behind.
		held, err := heldCases(ctx, tx, t.store)
		if err != nil {
			return err
		}
		for _, caseID := range held {
			if !slices.Contains(known, caseID) {
				if err := t.leaveCase(ctx, tx, page.PullResponse, caseID); err != nil {
					return err
				}
				*purged = true
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM records`); err != nil {
			return fmt.Errorf("fetch afresh: %w", err)
		}
		if err := setMeta(ctx, tx, metaResync, "0"); err != nil {
			return err
		}
	}
	// Statements are prepared once per page when first needed: an initial sync applies many
	// thousands of changes, a sync with nothing new none. They run without the sync's
	// cancellation: the driver starts a goroutine to watch a cancellable context for every
	// statement, a sixth of the time of the inserts in the profile. A cancelled sync still stops
	// within the page, as database/sql then rolls the transaction back and the next statement
	// fails.
	rowCtx := context.WithoutCancel(ctx)
	var insertStmt, loadStmt, saveStmt *sql.Stmt
	var prepared []*sql.Stmt
	defer func() {
		for _, st := range prepared {
			st.Close()
		}
	}()
	prepare := func(st **sql.Stmt, query string) (*sql.Stmt, error) {
		if *st == nil {
			p, err := tx.PrepareContext(rowCtx, query)
			if err != nil {
				return nil, fmt.Errorf("prepare record statement: %w", err)
			}
			*st, prepared = p, append(prepared, p)
		}
		return *st, nil
	}
	// merge applies a change onto the record's stored state.
	merge := func(ch *v1.CommittedChange) error {
		load, err := prepare(&loadStmt, `SELECT state FROM records WHERE id = ?`)
		if err != nil {
			return err
		}
		save, err := prepare(&saveStmt, `UPDATE records SET type = ?, case_id = ?, visit_id = ?, state = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		var blob []byte
		if err := load.QueryRowContext(rowCtx, ch.Record.Id).Scan(&blob); err != nil {
			return fmt.Errorf("read record: %w", err)
		}
		cur, err := t.store.decodeState(ch.Record.Id, blob)
		if err != nil {
			return err
		}
		rec := syncer.ApplyCommitted(cur, ch)
		if blob, err = t.store.encodeState(rec); err != nil {
			return err
		}
		r := rec.Record
		if _, err := save.ExecContext(rowCtx, r.Type, r.CaseId, records.VisitOf(rec), blob, r.Id); err != nil {
			return fmt.Errorf("write record: %w", err)
		}
		return nil
	}
	// Each change first tries to insert its record's fresh state, one row to a prepared
	// statement: most pulled changes make new records. Only a change whose record exists is
	// merged onto the stored state. (64 rows to a statement was no faster: a statement that may
	// write many rows keeps a statement journal, which spilled to a temporary file.)
	for i, ch := range changes {
		ref := ch.GetRecord()
		if ref.GetId() == "" || ref.GetType() == "" || ref.GetCaseId() == "" {
			return syncer.Errorf(syncer.CodeInternal, "The server sent a change without its record (seq %d); nothing from this page was applied.", ch.Seq)
		}
		for _, f := range ch.Fields {
			t.clock.Observe(syncer.HLC(f.Hlc))
		}
		insert, err := prepare(&insertStmt, `INSERT INTO records (id, type, case_id, visit_id, state) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		res, err := insert.ExecContext(rowCtx, ref.Id, ref.Type, ref.CaseId, page.fresh[i].visit, page.fresh[i].blob)
		if err != nil {
			return fmt.Errorf("write record: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("write record: %w", err)
		} else if n == 0 {
			if err := merge(ch); err != nil {
				return err
			}
		}
	}
	if err := keepConfirmed(ctx, tx, t.nowMs(), `server_seq > 0 AND server_seq <= ?`, nextCursor); err != nil {
		return err
	}
	for _, caseID := range page.PurgeCases {
		if err := t.leaveCase(ctx, tx, page.PullResponse, caseID); err != nil {
			return err
		}
	}
	knownJSON, err := json.Marshal(known)
	if err != nil {
		return err
	}
	if err := notePosition(ctx, tx, nextCursor, page.NextCursorMark, t.nowMs()); err != nil {
		return err
	}
	kv := []string{metaKnownCases, string(knownJSON), metaCursor, itoa(nextCursor), metaCursorMark, itoa(page.NextCursorMark),
		metaHLC, strconv.FormatUint(uint64(t.clock.Last()), 10),
		metaClockOffset, itoa(t.clockOffset())}
	if len(page.EscrowKey) == 32 {
		kv = append(kv, metaEscrowKey, hex.EncodeToString(page.EscrowKey))
	}
	return setMeta(ctx, tx, kv...)
}

// outboxEntry is one pending change.
type outboxEntry struct {
	seq       int64
	change    *v1.Change
	bases     map[string]string
	serverSeq int64
}

// readOutbox returns outbox entries in seq order: of one record, or all when recordID is "".
func (s *store) readOutbox(ctx context.Context, q querier, recordID string) ([]outboxEntry, error) {
	query, args := `SELECT seq, change, bases, server_seq FROM outbox ORDER BY seq`, []any(nil)
	if recordID != "" {
		query, args = `SELECT seq, change, bases, server_seq FROM outbox WHERE record_id = ? ORDER BY seq`, []any{recordID}
	}
	return s.queryOutbox(ctx, q, query, args...)
}

// queryOutbox returns the entries a query of seq, change, bases, server_seq from the outbox
// selects, unsealed.
func (s *store) queryOutbox(ctx context.Context, q querier, query string, args ...any) ([]outboxEntry, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []outboxEntry
	for rows.Next() {
		var e outboxEntry
		var change, bases []byte
		if err := rows.Scan(&e.seq, &change, &bases, &e.serverSeq); err != nil {
			return nil, err
		}
		if e.change, err = s.decodeChange(e.seq, change); err != nil {
			return nil, err
		}
		if e.bases, err = s.decodeBases(e.seq, bases); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// lastEdit returns the newest outbox entry (pending or acknowledged) that sets a record's field,
// or nil.
func (s *store) lastEdit(ctx context.Context, q querier, recordID, field string) (*outboxEntry, error) {
	var e outboxEntry
	var change, bases []byte
	err := q.QueryRowContext(ctx, `SELECT seq, change, bases, server_seq FROM outbox
		WHERE record_id = ? AND instr(field_names, ?) > 0 ORDER BY seq DESC LIMIT 1`,
		recordID, ","+field+",").Scan(&e.seq, &change, &bases, &e.serverSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	if e.change, err = s.decodeChange(e.seq, change); err != nil {
		return nil, err
	}
	if e.bases, err = s.decodeBases(e.seq, bases); err != nil {
		return nil, err
	}
	return &e, nil
}

// appendOutbox stores a change with the merge bases of its text fields.
func (s *store) appendOutbox(ctx context.Context, q querier, c *v1.Change, bases map[string]string, nowMs int64) error {
	blob, err := s.encodeChange(c)
	if err != nil {
		return err
	}
	basesBlob, err := s.encodeBases(c.DeviceSeq, bases)
	if err != nil {
		return err
	}
	names := make([]string, len(c.Fields))
	for i, f := range c.Fields {
		names[i] = f.Name
	}
	_, err = q.ExecContext(ctx, `INSERT INTO outbox (seq, record_id, field_names, change, bases, created_ms)
		VALUES (?, ?, ?, ?, ?, ?)`, c.DeviceSeq, c.Record.GetId(), ","+strings.Join(names, ",")+",", blob, basesBlob, nowMs)
	if err != nil {
		return fmt.Errorf("write outbox: %w", err)
	}
	return nil
}

// purgeCase deletes everything the tablet holds of a case it may no longer see: its records, and
// any change to it still waiting (the push before this pull offered them to the server, which
// refused or kept them) or refused. With secure_delete on, the content is overwritten; the
// caller checkpoints the WAL afterwards so no copy lingers there either.
func (s *store) purgeCase(ctx context.Context, tx *sql.Tx, caseID string) error {
	for _, q := range []string{
		`DELETE FROM meta WHERE key IN (SELECT '` + draftMetaPrefix + `' || id FROM records WHERE case_id = ? AND type = '` + syncer.TypeVisit + `')`,
		`DELETE FROM outbox WHERE record_id IN (SELECT id FROM records WHERE case_id = ?)`,
		`DELETE FROM acknowledged WHERE record_id IN (SELECT id FROM records WHERE case_id = ?)`,
		`DELETE FROM dead_letters WHERE record_id IN (SELECT id FROM records WHERE case_id = ?)`,
		`DELETE FROM records WHERE case_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, caseID); err != nil {
			return fmt.Errorf("purge case: %w", err)
		}
	}
	// Changes to records the tablet never had confirmed (a new observation the server refused,
	// once the case left the user's scope) name their case only inside the change.
	for _, table := range []string{"outbox", "acknowledged", "dead_letters"} {
		if err := s.purgeChangesOfCase(ctx, tx, table, caseID); err != nil {
			return err
		}
	}
	return nil
}

// purgeChangesOfCase deletes the rows of table (outbox, acknowledged or dead_letters) whose change
// is for caseID.
func (s *store) purgeChangesOfCase(ctx context.Context, tx *sql.Tx, table, caseID string) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, change FROM `+table)
	if err != nil {
		return fmt.Errorf("purge case: %w", err)
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		var blob []byte
		if err := rows.Scan(&seq, &blob); err != nil {
			rows.Close()
			return err
		}
		if c, err := s.decodeChange(seq, blob); err == nil && c.Record.GetCaseId() == caseID {
			seqs = append(seqs, seq)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, seq := range seqs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE seq = ?`, seq); err != nil {
			return fmt.Errorf("purge case: %w", err)
		}
	}
	return nil
}

// heldCases lists every case the tablet holds anything of: records, or changes waiting, kept or
// refused (a new record's change names its case only inside the change).
func heldCases(ctx context.Context, tx *sql.Tx, s *store) ([]string, error) {
	var cases []string
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT case_id FROM records`)
	if err != nil {
		return nil, fmt.Errorf("read held cases: %w", err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, err
		}
		cases = append(cases, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, table := range []string{"outbox", "acknowledged", "dead_letters"} {
		rows, err := tx.QueryContext(ctx, `SELECT seq, change FROM `+table)
		if err != nil {
			return nil, fmt.Errorf("read held cases: %w", err)
		}
		for rows.Next() {
			var seq int64
			var blob []byte
			if err := rows.Scan(&seq, &blob); err != nil {
				rows.Close()
				return nil, err
			}
			// One that does not open is skipped, as purgeChangesOfCase skips it.
			if c, err := s.decodeChange(seq, blob); err == nil {
				cases = append(cases, c.Record.GetCaseId())
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	slices.Sort(cases)
	return slices.Compact(cases), nil
}

// knownCases reads the cases the tablet holds in full.
func knownCases(ctx context.Context, q querier) ([]string, error) {
	v, found, err := metaValue(ctx, q, metaKnownCases)
	if err != nil {
		return nil, fmt.Errorf("read known cases: %w", err)
	}
	if !found {
		return nil, nil
	}
	var known []string
	return known, json.Unmarshal([]byte(v), &known)
}
