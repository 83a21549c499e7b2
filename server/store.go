package server

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/internal/pgdb"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/internal/sqlitedb"
	"github.com/samvaer/sync/internal/sqltx"
	"github.com/samvaer/sync/syncer"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// database is the storage contract under the store: one writer at a time, one snapshot per read
// transaction, ? placeholders (docs/architecture.md, "Two stores"). internal/sqlitedb keeps it on
// a SQLite file, internal/pgdb on PostgreSQL; the domain code above it is written once.
type database interface {
	WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error
	ReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error
	// Reclaim makes deleted content's space go (SQLite: WAL checkpoint; PostgreSQL: VACUUM).
	Reclaim(ctx context.Context) error
	Close() error
}

// DBFile is the server's database file inside its data directory.
const DBFile = "samvaer.db"

// Store is the server's storage: records, the change log, people, devices and keys. Exported
// methods own their transactions; helpers take the transaction.
type Store struct {
	db     database
	read   *sql.DB      // the database's read pool, for plain reads outside a transaction
	sqlite *sqlitedb.DB // the SQLite store, or nil
	pg     *pgdb.DB     // the PostgreSQL store, or nil
	now    func() time.Time
	clock  *syncer.Clock
	keys   *seal.Keyring // the key-encryption keys (keys.go)
	sealer seal.Sealer   // seals and opens what a person wrote: keys (benchmarks compare without)
	kekSrc *kekSource
	// auditKey anchors every audit entry's hash (auditkey.go); the database does not hold it.
	auditKey []byte
	// SignInPolicy says when failed sign-ins block (zero fields: the defaults).
	SignInPolicy SignInPolicy
	// SecondFactor says who must have a second factor: FactorsForAdmins ("" too), FactorsForAll
	// or FactorsForNone.
	SecondFactor string
	writes       writeHealth // whether writes fail for a full disk (health.go)
	// hashKey keys the content hashes of pushed changes (history.go), and receiptKey, derived
	// from it, the receipts (receipts.go). Both are read (or, on a new database, made) when the
	// store opens: a secret of the database, which a backup carries, sealed under the KEK — a
	// plain hash of a change would let whoever holds the file confirm a guessed value, such as
	// which checklist items are ticked.
	hashKey, receiptKey []byte
	// escrow is the key pair of escrowed changes (receipts.go).
	escrow *escrowKey
	// ReportOverdue is how long after a supervised visit's end its report is overdue (0: 72 hours).
	ReportOverdue time.Duration
	// Zone is the zone times in messages are written in (nil: i18n.DefaultZone).
	Zone *time.Location
}

// OpenStore opens (creating if needed) the SQLite store in data directory dir. now is the clock;
// nil means time.Now. The key-encryption keys come from SAMVAER_KEK or the key file in dir, made
// on first start (keys.go).
func OpenStore(dir string, now func() time.Time) (*Store, error) { return OpenStoreOn(dir, "", now) }

// OpenStoreOn opens the store on database, a postgres:// address, or on SQLite in dir when
// database is empty. dir holds the keys in either case (on PostgreSQL with several instances,
// give every instance the same SAMVAER_KEK and SAMVAER_AUDIT_KEY, docs/operations.md).
func OpenStoreOn(dir, database string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if database != "" && !pgdb.IsURL(database) {
		return nil, syncer.Errorf(syncer.CodeInvalid, "The database must be a PostgreSQL address (postgres://...); leave it out to use SQLite in the data directory.")
	}
	if database == "" {
		if err := checkDatabaseFile(dir); err != nil {
			return nil, err
		}
	}
	keys, src, madeKEK, err := openKeyring(dir, now().UnixMilli())
	if err != nil {
		return nil, err
	}
	auditKey, madeAuditKey, err := loadAuditKey(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{now: now, keys: keys, sealer: keys, kekSrc: src, writes: writeHealth{dir: dir}, auditKey: auditKey}
	if database == "" {
		migrations, err := fs.Sub(migrationFiles, "migrations")
		if err != nil {
			return nil, err
		}
		if s.sqlite, err = sqlitedb.Open(filepath.Join(dir, DBFile), sqlitedb.Options{Migrations: migrations, SecureDelete: true, WriteDone: s.writeDone}); err != nil {
			return nil, err
		}
		s.db, s.read = s.sqlite, s.sqlite.Read
	} else {
		migrations, err := fs.Sub(migrationFiles, "migrations/postgres")
		if err != nil {
			return nil, err
		}
		if s.pg, err = pgdb.Open(context.Background(), database, pgdb.Options{Migrations: migrations, WriteDone: s.writeDone}); err != nil {
			return nil, syncer.Errorf(syncer.CodeUnavailable, "The server cannot use the PostgreSQL database %s: %v", pgdb.Redact(database), err)
		}
		s.db, s.read = s.pg, s.pg.Read
	}
	if madeKEK && s.pg != nil {
		// On SQLite the database file beside a missing key says this; here the database does.
		var used int64
		if err := s.read.QueryRowContext(context.Background(), `SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM signing_keys)
			+ (SELECT COUNT(*) FROM server_secrets) + (SELECT COUNT(*) FROM records)`).Scan(&used); err != nil || used > 0 {
			s.db.Close()
			os.Remove(filepath.Join(dir, KEKFile))
			if err != nil {
				return nil, err
			}
			return nil, errNoKEK(dir)
		}
	}
	if madeAuditKey {
		// A new key cannot vouch for entries signed with the old one: it was lost or not given.
		var signed int64
		if err := s.read.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_log WHERE mac IS NOT NULL`).Scan(&signed); err != nil || signed > 0 {
			s.db.Close()
			os.Remove(filepath.Join(dir, AuditKeyFile))
			if err != nil {
				return nil, err
			}
			return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The data directory %s has an audit log signed with an audit key, but no key: set %s or restore %s from where its copy is kept.", dir, AuditKeyEnv, AuditKeyFile)
		}
	}
	s.clock = syncer.NewClock(s.nowMs, 0)
	if err := s.loadSecrets(context.Background()); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// sqliteHeader opens every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkDatabaseFile refuses to start on a database file that cannot be this server's: an empty
// one (0 bytes, or SQLite with no tables), which is what a lost, truncated or wrongly restored
// database looks like beside the server's keys (starting would silently make a new, empty
// server, and tablets would find none of what it acknowledged); and a foreign one (not SQLite,
// or another program's SQLite database, which migrating would change). A new server has no
// file at all: the database is made on first start.
func checkDatabaseFile(dir string) error {
	path := filepath.Join(dir, DBFile)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect the database file: %w", err)
	}
	empty := syncer.Errorf(syncer.CodeFailedPrecondition,
		"The database %s is empty: this server's database was lost, truncated or not restored, and the server does not start as a new, empty one beside its keys. Restore samvaer.db from a backup (docs/operations.md); only if this server never ran, remove the empty file.", path)
	if fi.Size() == 0 {
		return empty
	}
	foreign := syncer.Errorf(syncer.CodeFailedPrecondition,
		"The file %s is not a Samvær database (another program's file, or damaged); the server does not start on it. Restore samvaer.db from a backup (docs/operations.md).", path)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("inspect the database file: %w", err)
	}
	header := make([]byte, len(sqliteHeader))
	_, err = io.ReadFull(f, header)
	f.Close()
	if err != nil || string(header) != sqliteHeader {
		return foreign
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return fmt.Errorf("inspect the database file: %w", err)
	}
	defer db.Close()
	var tables, ours int
	err = db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE name = 'schema_migrations') FROM sqlite_master WHERE type = 'table'`).Scan(&tables, &ours)
	switch {
	case err != nil:
		return fmt.Errorf("inspect the database file %s: %w", path, err)
	case tables == 0:
		return empty
	case ours == 0:
		return foreign
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Backup writes a consistent copy of the live SQLite database to path. A PostgreSQL store is
// backed up with the database's own tools (pg_dump, docs/operations.md).
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.sqlite == nil {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "This server's database is PostgreSQL: back it up with pg_dump (docs/operations.md).")
	}
	return s.sqlite.Backup(ctx, path)
}

func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

// timeText writes a time for a message the way every door shows times: in the configured zone,
// here in English ("Sat 28 Nov 2026, 10:00"); the pages say it in the reader's language from the
// error's key and data.
func (s *Store) timeText(t time.Time) string { return timeWords.Localizer(s.Zone, "en").DateTime(t) }

// timeWords are the shared words of times (weekdays, months) the store's messages use.
var timeWords = func() *i18n.Catalog {
	c, err := i18n.NewCatalog()
	if err != nil {
		panic(err) // the shared catalog is embedded and tested
	}
	return c
}()

// Now is the store's clock (injected in tests): pages ask it what "today" is.
func (s *Store) Now() time.Time { return s.now() }

// commitChannel is the PostgreSQL notification channel of commits to the change log.
const commitChannel = "samvaer_commits"

// listenForCommits calls poke whenever any server on the same PostgreSQL database commits to the
// change log, until ctx ends. On SQLite it returns at once: the commits of this process poke its
// streams directly, and streams poll for the rest (admin commands).
func (s *Store) listenForCommits(ctx context.Context, poke func()) {
	if s.pg != nil {
		s.pg.Listen(ctx, commitChannel, poke)
	}
}

// Head returns the newest commit sequence.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var head int64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&head)
	return head, err
}

// querier is what both *sql.Tx and *sql.DB offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// commitLog appends changes to the log and applies their effects to the records, in one
// transaction. Sequences are assigned here, in commit order (there is one writer). Its hot
// statements are prepared once per transaction: parsing SQL was a fifth of a push's time.
type commitLog struct {
	keys    seal.Sealer
	ctx     context.Context
	tx      *sql.Tx
	next    int64
	now     int64
	load    *sql.Stmt
	save    *sql.Stmt
	insert  *sql.Stmt
	logStmt *sql.Stmt
	visits  map[string]string // visit id -> case id, for visits read in this transaction
	// touched counts, per case, the records this transaction changed and deleted, for the
	// access log (auditChanges).
	touched map[string]*caseTouch
	// mark is this transaction's random mark on every row it logs (history.go).
	mark int64
	// audit is the audit chain's tail, when the transaction read it beforehand (pushStart);
	// nil: auditChanges reads it. Entries appended in the transaction other than through
	// auditChanges would leave it behind: a push appends none.
	audit *auditTail
	// pushedHash is the content hash of the device change being applied, logged with its row.
	pushedHash []byte
	// notify, on PostgreSQL, tells every server on the database when this transaction commits
	// (once, at its first log row), so their Subscribe streams wake.
	notify bool

	// Batching (a push's runs of creates, batch.go): rows waiting to be written by multi-row
	// statements, and the ids a create may take without asking (not in records when the push
	// began). Every read of the records or the log through the commitLog flushes them first.
	batch       bool
	free        map[string]bool
	pendingRecs []any // recordColumns values per row
	pendingLog  []any // logColumns values per row

	plain []byte // marshal's buffer
}

// caseTouch counts what one transaction did to a case's records.
type caseTouch struct{ changed, deleted int64 }

// errRecordExists: a change creates a record whose id is taken.
var errRecordExists = errors.New("record exists")

func (s *Store) newCommitLog(ctx context.Context, tx *sql.Tx, nowMs int64) (*commitLog, error) {
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&head); err != nil {
		return nil, fmt.Errorf("read head: %w", err)
	}
	return s.newCommitLogAt(ctx, tx, nowMs, head)
}

// newCommitLogAt is newCommitLog for a caller that read the log's head in its transaction.
func (s *Store) newCommitLogAt(ctx context.Context, tx *sql.Tx, nowMs, head int64) (*commitLog, error) {
	// Another process (admin keys rotate) may have made a new primary key: seal under it. The
	// key file is read again only when it changed.
	if err := s.keys.Reload(); err != nil {
		return nil, err
	}
	mark, err := newMark()
	if err != nil {
		return nil, err
	}
	l := &commitLog{keys: s.sealer, ctx: ctx, tx: tx, next: head + 1, now: nowMs, visits: map[string]string{}, touched: map[string]*caseTouch{}, mark: mark, notify: s.pg != nil}
	prepare := func(query string) *sql.Stmt {
		var st *sql.Stmt
		if err == nil {
			st, err = tx.PrepareContext(ctx, query)
		}
		return st
	}
	l.load = prepare(`SELECT state FROM records WHERE id = ?`)
	l.save = prepare(`INSERT INTO records (id, type, case_id, visit_id, state) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, visit_id = excluded.visit_id`)
	l.insert = prepare(`INSERT INTO records (id, type, case_id, visit_id, state) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	l.logStmt = prepare(`INSERT INTO changes
		(seq, case_id, record_id, device_id, device_seq, result, reason, effect, submitted, committed_ms, mark, content_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return l, nil
}

// record reads a record's current state inside the transaction, or nil.
func (l *commitLog) record(id string) (*v1.CommittedChange, error) {
	if err := l.flush(); err != nil {
		return nil, err
	}
	var blob []byte
	err := l.load.QueryRowContext(l.ctx, id).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load record: %w", err)
	}
	return records.Decode(l.keys, id, blob)
}

// visitInCase reports whether a visit exists, undeleted, in the case.
func (l *commitLog) visitInCase(visitID, caseID string) (bool, error) {
	if c, ok := l.visits[visitID]; ok {
		return c == caseID, nil
	}
	visit, err := l.record(visitID)
	if err != nil {
		return false, err
	}
	l.knowVisit(visitID, visit)
	return l.visits[visitID] == caseID, nil
}

// knowVisit keeps what visitInCase needs of record id's state (nil: no such record).
func (l *commitLog) knowVisit(id string, rec *v1.CommittedChange) {
	l.visits[id] = ""
	if rec != nil && !rec.Deleted && rec.Record.Type == syncer.TypeVisit {
		l.visits[id] = rec.Record.CaseId
	}
}

// entry is one row of the change log.
type entry struct {
	ref       *v1.RecordRef
	device    string
	deviceSeq int64
	result    v1.Result
	reason    string
	cur       *v1.CommittedChange // the record's state before the effect
	create    bool                // the effect makes a new record: errRecordExists if the id is taken
	effect    *v1.CommittedChange // nil: nothing committed to the record
	submitted *v1.Change          // kept when the effect may differ from what was pushed
}

// append writes one log row, and applies its effect to the record. It returns the row's seq.
func (l *commitLog) append(e entry) (int64, error) {
	seq := l.next
	var effect, submitted []byte
	var err error
	if l.notify {
		if err := pgdb.Notify(l.ctx, l.tx, commitChannel); err != nil {
			return 0, fmt.Errorf("notify: %w", err)
		}
		l.notify = false
	}
	if e.effect != nil {
		syncer.Stamp(e.effect, seq)
		rec := e.effect
		if e.cur == nil {
			// A new record's state is its first effect with the fields in stored order: marshal once.
			slices.SortFunc(rec.Fields, func(a, b *v1.Field) int { return strings.Compare(a.Name, b.Name) })
		} else {
			rec = syncer.ApplyCommitted(e.cur, e.effect)
		}
		plain, err := l.marshal(e.effect)
		if err != nil {
			return 0, err
		}
		if effect, err = l.keys.Seal(plain, effectAD(seq)); err != nil {
			return 0, err
		}
		if rec != e.effect {
			if plain, err = l.marshal(rec); err != nil {
				return 0, err
			}
		}
		state, err := l.keys.Seal(plain, records.StateAD(rec.Record.Id))
		if err != nil {
			return 0, err
		}
		if err := l.saveRecord(rec, state, e.create); err != nil {
			return 0, err
		}
		t := l.touched[rec.Record.CaseId]
		if t == nil {
			t = &caseTouch{}
			l.touched[rec.Record.CaseId] = t
		}
		if e.effect.Deleted {
			t.deleted++
		} else {
			t.changed++
		}
	}
	if e.submitted != nil {
		plain, err := l.marshal(e.submitted)
		if err != nil {
			return 0, err
		}
		if submitted, err = l.keys.Seal(plain, submittedAD(seq)); err != nil {
			return 0, err
		}
	}
	var hash []byte
	if e.deviceSeq > 0 {
		hash = l.pushedHash
	}
	row := []any{seq, e.ref.CaseId, e.ref.Id, e.device, e.deviceSeq, int32(e.result), e.reason, effect, submitted, l.now, l.mark, hash}
	if l.batch {
		l.pendingLog = append(l.pendingLog, row...)
		if len(l.pendingLog) >= batchRows*len(logColumns) {
			if err := l.flush(); err != nil {
				return 0, err
			}
		}
	} else if _, err = l.logStmt.ExecContext(sqltx.Later(l.ctx), row...); err != nil {
		return 0, fmt.Errorf("append change: %w", err)
	}
	l.next++
	return seq, nil
}

// marshal encodes m into the log's buffer, valid until the next marshal: what is sealed is a
// copy, so one buffer serves every row of the transaction.
func (l *commitLog) marshal(m proto.Message) ([]byte, error) {
	var err error
	l.plain, err = proto.MarshalOptions{}.MarshalAppend(l.plain[:0], m)
	return l.plain, err
}

// saveRecord writes a record's new state (state is rec marshalled and sealed).
func (l *commitLog) saveRecord(rec *v1.CommittedChange, state []byte, create bool) error {
	delete(l.visits, rec.Record.Id) // a visit changed in this transaction is read again
	visitID := records.VisitOf(rec)
	if create && l.free[rec.Record.Id] {
		delete(l.free, rec.Record.Id) // a second create of the id in this push finds it taken
		l.pendingRecs = append(l.pendingRecs, rec.Record.Id, rec.Record.Type, rec.Record.CaseId, visitID, state)
		return nil
	}
	if err := l.flush(); err != nil {
		return err
	}
	if !create {
		if _, err := l.save.ExecContext(sqltx.Later(l.ctx), rec.Record.Id, rec.Record.Type, rec.Record.CaseId, visitID, state); err != nil {
			return fmt.Errorf("store record: %w", err)
		}
		return nil
	}
	// One statement instead of a lookup and a write: creates are most of what tablets push.
	res, err := l.insert.ExecContext(l.ctx, rec.Record.Id, rec.Record.Type, rec.Record.CaseId, visitID, state)
	if err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return errRecordExists
	}
	return nil
}

// serverChange commits a change made on the server (by an admin command), through the same
// merge rules as a tablet's.
func (l *commitLog) serverChange(ref *v1.RecordRef, deleted bool, fields map[string]string, hlc syncer.HLC) (int64, error) {
	cur, err := l.record(ref.Id)
	if err != nil {
		return 0, err
	}
	eff := &v1.CommittedChange{Record: ref, Deleted: deleted}
	for name, value := range fields {
		eff.Fields = append(eff.Fields, &v1.Field{Name: name, Value: value, Hlc: uint64(hlc), DeviceId: syncer.ServerDevice})
	}
	return l.append(entry{ref: ref, device: syncer.ServerDevice, result: v1.Result_RESULT_APPLIED, cur: cur, effect: eff})
}

// txHistory answers syncer.History from the change log inside a transaction.
type txHistory struct {
	ctx  context.Context
	q    querier
	keys seal.Sealer
	log  *commitLog // when set, its waiting rows are written before the log is read
}

// flush writes the rows the transaction's commitLog keeps waiting, so the log read is complete.
func (h txHistory) flush() error {
	if h.log == nil {
		return nil
	}
	return h.log.flush()
}

func (h txHistory) ValueAt(recordID, field string, rev int64) (string, error) {
	if rev == 0 {
		return "", nil
	}
	if err := h.flush(); err != nil {
		return "", err
	}
	var blob []byte
	err := h.q.QueryRowContext(h.ctx, `SELECT effect FROM changes WHERE seq = ? AND record_id = ?`, rev, recordID).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) || blob == nil {
		// A base the server never committed for this record: merge against nothing.
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read base: %w", err)
	}
	eff, err := openEffect(h.keys, rev, blob)
	if err != nil {
		return "", err
	}
	return syncer.Value(eff, field), nil
}

func (h txHistory) OwnEdit(deviceID string, deviceSeq int64, recordID, field string) (string, int64, bool, error) {
	if err := h.flush(); err != nil {
		return "", 0, false, err
	}
	var seq int64
	var effBlob, subBlob []byte
	err := h.q.QueryRowContext(h.ctx, `SELECT seq, effect, submitted FROM changes WHERE device_id = ? AND device_seq = ? AND record_id = ?`,
		deviceID, deviceSeq, recordID).Scan(&seq, &effBlob, &subBlob)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("read own edit: %w", err)
	}
	eff := new(v1.CommittedChange) // a rejected change committed nothing
	if effBlob != nil {
		if eff, err = openEffect(h.keys, seq, effBlob); err != nil {
			return "", 0, false, err
		}
	}
	if subBlob == nil {
		// Committed exactly as pushed.
		f := syncer.FieldOf(eff, field)
		if f == nil {
			return "", 0, false, nil
		}
		return f.Value, seq, true, nil
	}
	plain, err := h.keys.Open(subBlob, submittedAD(seq))
	if err != nil {
		return "", 0, false, fmt.Errorf("open submitted change %d: %w", seq, err)
	}
	sub := new(v1.Change)
	if err := proto.Unmarshal(plain, sub); err != nil {
		return "", 0, false, err
	}
	for _, e := range sub.Fields {
		if e.Name == field {
			var rev int64
			if f := syncer.FieldOf(eff, field); f != nil && f.Value == e.Value {
				rev = seq
			}
			return e.Value, rev, true, nil
		}
	}
	return "", 0, false, nil
}

// openEffect opens and decodes the effect of log row seq.
func openEffect(keys seal.Sealer, seq int64, blob []byte) (*v1.CommittedChange, error) {
	plain, err := keys.Open(blob, effectAD(seq))
	if err != nil {
		return nil, fmt.Errorf("open change %d: %w", seq, err)
	}
	eff := new(v1.CommittedChange)
	if err := proto.Unmarshal(plain, eff); err != nil {
		return nil, fmt.Errorf("decode change %d: %w", seq, err)
	}
	return eff, nil
}
