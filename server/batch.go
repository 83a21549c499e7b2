package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/internal/sqltx"
)

// Batching a push's creates. Observations are most of what tablets push, and each used to cost
// two statements (its record, its log row): on PostgreSQL two round trips to the database per
// change. In batch mode (PushAt) the commitLog keeps the rows of a run of creates and writes
// them with multi-row INSERTs: before anything reads the records or the log through it (an
// update, a visit's or report's lookup, the history a merge asks), when batchRows are waiting,
// and before the push's transaction ends. The write lock makes the prefetched "free" ids safe
// to take: no other transaction can insert meanwhile. Known new, the rows go held back
// (sqltx.Later): on PostgreSQL they travel with the transaction's next read or its commit.

// batchRows is the most rows one INSERT writes (12 columns of the log: 1,200 parameters,
// well under SQLite's 32,766 and PostgreSQL's 65,535).
const batchRows = 100

var (
	recordColumns = []string{"id", "type", "case_id", "visit_id", "state"}
	logColumns    = []string{"seq", "case_id", "record_id", "device_id", "device_seq", "result", "reason", "effect", "submitted", "committed_ms", "mark", "content_hash"}
)

// batchLookup is what startBatch reads of records for creates of the given record ids and the
// visits their observations name: every id once.
func batchLookup(ids, visits []string) []string {
	lookup := slices.Clone(ids)
	seen := make(map[string]bool, len(ids)+len(visits))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range visits {
		if !seen[id] {
			seen[id] = true
			lookup = append(lookup, id)
		}
	}
	return lookup
}

// lookupChunk is the most ids one statement of startBatch's lookup names.
const lookupChunk = 500

// foundRecord is a row of records that a lookup found.
type foundRecord struct {
	id    string
	state []byte
}

// startBatch turns batch mode on for creates of the given record ids: those not in records are
// free to take without asking. The visits the push's observations name are read in the same
// statements, so checking them (visitInCase) asks nothing more. lookup is batchLookup(ids,
// visits); the rows of its first read ids were read beforehand (pushStart reads them with the
// device's row) and are found, the rest are read here.
func (l *commitLog) startBatch(ids, visits, lookup []string, read int, found []foundRecord) error {
	l.batch, l.free = true, make(map[string]bool, len(ids))
	isVisit := make(map[string]bool, len(visits))
	for _, id := range visits {
		if _, known := l.visits[id]; !known {
			isVisit[id] = true
		}
	}
	for _, id := range ids {
		l.free[id] = true
	}
	take := func(r foundRecord) error {
		delete(l.free, r.id)
		if isVisit[r.id] {
			delete(isVisit, r.id)
			rec, err := records.Decode(l.keys, r.id, r.state)
			if err != nil {
				return err
			}
			l.knowVisit(r.id, rec)
		}
		return nil
	}
	for _, r := range found {
		if err := take(r); err != nil {
			return err
		}
	}
	for start := read; start < len(lookup); start += lookupChunk {
		chunk := lookup[start:min(start+lookupChunk, len(lookup))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := l.tx.QueryContext(l.ctx, `SELECT id, state FROM records WHERE id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("look up records: %w", err)
		}
		for rows.Next() {
			var r foundRecord
			if err := rows.Scan(&r.id, &r.state); err != nil {
				rows.Close()
				return err
			}
			if err := take(r); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for id := range isVisit {
		l.knowVisit(id, nil)
	}
	return nil
}

// flush writes the waiting rows: records first, so every log row's record exists.
func (l *commitLog) flush() error {
	if err := l.insertRows("records", recordColumns, &l.pendingRecs); err != nil {
		return fmt.Errorf("store records: %w", err)
	}
	if err := l.insertRows("changes", logColumns, &l.pendingLog); err != nil {
		return fmt.Errorf("append changes: %w", err)
	}
	return nil
}

// insertRows writes *values (len(columns) per row) into table, batchRows rows per statement.
func (l *commitLog) insertRows(table string, columns []string, values *[]any) error {
	width := len(columns)
	for len(*values) > 0 {
		n := min(len(*values)/width, batchRows)
		row := "(?" + strings.Repeat(", ?", width-1) + ")"
		query := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES " + row + strings.Repeat(", "+row, n-1)
		if _, err := l.tx.ExecContext(sqltx.Later(l.ctx), query, (*values)[:n*width]...); err != nil {
			return err
		}
		*values = (*values)[n*width:]
	}
	*values = nil
	return nil
}
