package clientlib

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// Restores: how a tablet repairs, by itself and with ordinary syncs, a history the server does
// not share (docs/architecture.md, "Restores").
//
//   - Restored from an older copy of its home, the tablet numbers new changes with sequence
//     numbers the server holds for other changes. The server refuses them (KIND_SEQ_REUSED); the
//     tablet numbers its waiting changes from the reused one on after the server's highest and
//     sends them again. Its old changes are on the server already and come back with the pull.
//   - A server restored from an older backup lost changes it acknowledged, and maybe the commits
//     the tablet's pull position names (KIND_SERVER_RESTORED, or a pull telling of fewer of the
//     tablet's changes than it was acknowledged). The tablet sends again every change it keeps
//     (waiting, acknowledged, and kept for Options.KeepAcknowledged after confirmation) numbered
//     after the server's highest, and when its position is gone it fetches everything afresh.

// DefaultKeepAcknowledged is how long the tablet keeps a change after a pull confirmed it, so a
// server restored from a backup up to that old gets it back.
const DefaultKeepAcknowledged = 7 * 24 * time.Hour

// Meta keys of the tablet's view of the server's history.
const (
	metaCursorMark  = "cursor_mark" // the server's mark of the commit at the cursor
	metaAckedSeq    = "acked_seq"   // the highest device seq the server answered
	metaCheckpoints = "checkpoints" // JSON [[seq, mark, at_ms], …]: earlier pull positions, oldest first
	metaResync      = "resync"      // "1": the next pulled page replaces every record
)

// maxCheckpoints bounds the earlier pull positions kept to find what a restored server still
// holds. They are thinned so their times spread out (notePosition): the newest ones are close
// together, older ones further apart, so a backup from an hour or from a week ago both find a
// position near the one it holds.
const maxCheckpoints = 32

// maxRepairs bounds the repairs in one sync; each makes progress, so more mean a fault.
const maxRepairs = 3

// errHistory is a server's refusal of a history it does not hold, with what the tablet needs to
// repair it.
type errHistory struct {
	detail *v1.HistoryMismatch
	cause  error
}

func (e *errHistory) Error() string { return e.cause.Error() }
func (e *errHistory) Unwrap() error { return e.cause }

// historyMismatch returns the history mismatch a refused call carries, or nil.
func historyMismatch(err error) *v1.HistoryMismatch {
	var ce *connect.Error
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !errors.As(err, &ce) {
		return nil
	}
	for _, d := range ce.Details() {
		msg, derr := d.Value()
		if h, ok := msg.(*v1.HistoryMismatch); derr == nil && ok && h.Kind != v1.HistoryMismatch_KIND_UNSPECIFIED {
			return h
		}
	}
	return nil
}

// repair brings the tablet's history in line with the server's, as the mismatch says; it returns
// how many changes it numbered anew.
func (t *Tablet) repair(ctx context.Context, d *v1.HistoryMismatch) (int, error) {
	switch d.Kind {
	case v1.HistoryMismatch_KIND_SEQ_REUSED:
		n := 0
		err := t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
			entries, err := t.store.readOutbox(ctx, tx, "")
			if err != nil {
				return err
			}
			entries = slices.DeleteFunc(entries, func(e outboxEntry) bool { return e.seq < d.DeviceSeq })
			n = len(entries)
			// The server's log is intact: every base revision still names what the editor saw.
			return t.renumber(ctx, tx, entries, d.DeviceLastSeq, nil)
		})
		return n, err
	case v1.HistoryMismatch_KIND_SERVER_RESTORED:
		return t.recoverRestoredServer(ctx, d.DeviceLastSeq)
	}
	return 0, fmt.Errorf("unknown history mismatch %v", d.Kind)
}

// recoverRestoredServer gives a restored server back what it lost of this tablet's changes: all
// the tablet keeps numbered after last, the highest the server holds. When the server no longer
// holds the tablet's pull position, the tablet fetches everything afresh at the next pull.
func (t *Tablet) recoverRestoredServer(ctx context.Context, last int64) (int, error) {
	cursor, err := metaInt(ctx, t.store.db.Read, metaCursor)
	if err != nil {
		return 0, err
	}
	held, err := t.heldPosition(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	err = t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		entries, err := t.store.readOutbox(ctx, tx, "")
		if err != nil {
			return err
		}
		kept, err := t.store.readAcknowledged(ctx, tx, last)
		if err != nil {
			return err
		}
		entries = slices.DeleteFunc(append(kept, entries...), func(e outboxEntry) bool { return e.seq <= last })
		slices.SortFunc(entries, func(a, b outboxEntry) int { return cmp.Compare(a.seq, b.seq) })
		n = len(entries)
		// Each goes with the server's receipt for it, if it had one: the restored server takes
		// again what it took then, even when the restore lost the user's assignment too.
		if err := t.store.attachReceipts(ctx, tx, entries); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM acknowledged WHERE seq > ?`, last); err != nil {
			return fmt.Errorf("resend kept changes: %w", err)
		}
		// A base revision after the newest commit the server still holds names a commit it lost
		// (or one it now holds under that number for another change): it is replaced by the
		// tablet's own change that made it, if it is among those sent again, and otherwise by
		// "never seen" marked base_lost, which the server keeps as a conflict for a person.
		ownCommits := map[int64]int64{} // old server seq -> old device seq
		for _, e := range entries {
			if e.serverSeq > 0 {
				ownCommits[e.serverSeq] = e.seq
			}
		}
		rebase := func(baseRev int64) (int64, int64) {
			if baseRev <= held {
				return baseRev, 0
			}
			return 0, ownCommits[baseRev]
		}
		if err := t.renumber(ctx, tx, entries, last, rebase); err != nil {
			return err
		}
		kv := []string{metaAckedSeq, itoa(last)}
		if held < cursor {
			kv = append(kv, metaResync, "1", metaCursor, "0", metaCursorMark, "0", metaKnownCases, "[]", metaCheckpoints, "[]")
		}
		return setMeta(ctx, tx, kv...)
	})
	return n, err
}

// heldPosition finds the newest of the tablet's pull positions the server still holds (0 when
// none): commits up to it are the same on both ends, so base revisions up to it stay valid. It
// asks with pulls of one change, newest position first.
func (t *Tablet) heldPosition(ctx context.Context) (int64, error) {
	cps, err := checkpoints(ctx, t.store.db.Read)
	if err != nil {
		return 0, err
	}
	known, err := knownCases(ctx, t.store.db.Read)
	if err != nil {
		return 0, err
	}
	for i := len(cps) - 1; i >= 0; i-- {
		_, err := call(ctx, t, "pull", &v1.PullRequest{Cursor: cps[i][0], CursorMark: cps[i][1], MaxChanges: 1, MaxBytes: 1,
			KnownCases: known}, t.syncRPC.Pull)
		var h *errHistory
		if err == nil {
			return cps[i][0], nil
		}
		if !errors.As(err, &h) {
			return 0, err
		}
	}
	return 0, nil
}

// renumber gives entries (in seq order) the numbers after last, sealed anew under their new
// numbers and waiting to be sent. A continuation of one of them (after_seq) follows it to its new
// number, also when its old number is one the server holds for another change (a reused seq);
// one of a change not among them and not on the server (seq > last) continues nothing.
// rebase, when set, maps a base revision to a valid one, or to the old number of the tablet's own
// change the edit continues.
func (t *Tablet) renumber(ctx context.Context, tx *sql.Tx, entries []outboxEntry, last int64, rebase func(int64) (baseRev, ownSeq int64)) error {
	moved := make(map[int64]int64, len(entries))
	for i, e := range entries {
		moved[e.seq] = last + 1 + int64(i)
	}
	follow := func(seq int64) int64 {
		// One of the entries first: after a reused seq (KIND_SEQ_REUSED) the entries start at or
		// below last, and their old numbers name other changes on the server.
		if n, ok := moved[seq]; ok {
			return n
		}
		if seq <= last {
			return seq
		}
		return 0 // not sent again
	}
	for _, e := range entries {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ?`, e.seq); err != nil {
			return fmt.Errorf("renumber change %d: %w", e.seq, err)
		}
	}
	now := t.nowMs()
	next := last + 1
	for _, e := range entries {
		c := e.change
		c.DeviceSeq = moved[e.seq]
		for _, f := range c.Fields {
			f.AfterSeq = follow(f.AfterSeq)
			if rebase != nil {
				base, own := rebase(f.BaseRev)
				// A base that named another device's commit the server lost is unknown now.
				f.BaseLost = f.BaseLost || (f.BaseRev > 0 && base == 0 && own == 0)
				f.BaseRev = base
				if own != 0 && f.AfterSeq == 0 {
					f.AfterSeq = follow(own)
				}
			}
		}
		if rebase != nil {
			c.BaseRev, _ = rebase(c.BaseRev)
		}
		if err := t.store.appendOutbox(ctx, tx, c, e.bases, now); err != nil {
			return fmt.Errorf("renumber change %d: %w", e.seq, err)
		}
		next = c.DeviceSeq + 1
	}
	cur, err := metaInt(ctx, tx, metaNextSeq)
	if err != nil {
		return err
	}
	return setMeta(ctx, tx, metaNextSeq, itoa(max(cur, next)))
}

// keepConfirmed moves outbox entries a pull confirmed (those the condition selects, with its
// args) to the acknowledged changes kept for a restored server.
func keepConfirmed(ctx context.Context, tx *sql.Tx, nowMs int64, where string, args ...any) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO acknowledged (seq, record_id, change, bases, server_seq, confirmed_ms, receipt)
		SELECT seq, record_id, change, bases, server_seq, ?, receipt FROM outbox WHERE `+where+` ON CONFLICT (seq) DO NOTHING`,
		append([]any{nowMs}, args...)...); err != nil {
		return fmt.Errorf("keep confirmed changes: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE `+where, args...); err != nil {
		return fmt.Errorf("remove confirmed changes: %w", err)
	}
	return nil
}

// forgetAcknowledged drops kept changes confirmed before cutoffMs.
func (s *store) forgetAcknowledged(ctx context.Context, tx *sql.Tx, cutoffMs int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM acknowledged WHERE confirmed_ms < ?`, cutoffMs); err != nil {
		return fmt.Errorf("forget kept changes: %w", err)
	}
	return nil
}

// readAcknowledged returns the kept changes numbered after seq, in seq order.
func (s *store) readAcknowledged(ctx context.Context, q querier, after int64) ([]outboxEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, change, bases, server_seq FROM acknowledged WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return nil, fmt.Errorf("read kept changes: %w", err)
	}
	defer rows.Close()
	var out []outboxEntry
	for rows.Next() {
		var e outboxEntry
		var blob, bases []byte
		if err := rows.Scan(&e.seq, &blob, &bases, &e.serverSeq); err != nil {
			return nil, err
		}
		if e.change, err = s.decodeChange(e.seq, blob); err != nil {
			return nil, err
		}
		if e.bases, err = s.decodeBases(e.seq, bases); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// checkpoint is an earlier pull position: the commit seq, its mark and when it was pulled.
type checkpoint [3]int64

// checkpoints reads the tablet's earlier pull positions, oldest first.
func checkpoints(ctx context.Context, q querier) ([]checkpoint, error) {
	v, found, err := metaValue(ctx, q, metaCheckpoints)
	if err != nil {
		return nil, fmt.Errorf("read pull positions: %w", err)
	}
	if !found {
		return nil, nil
	}
	var cps []checkpoint
	return cps, json.Unmarshal([]byte(v), &cps)
}

// notePosition records a pull position (with its mark) among the checkpoints. Past
// maxCheckpoints it drops the position closest in time to its older neighbour, never the oldest
// or the newest, so the kept times spread out the older they are.
func notePosition(ctx context.Context, tx *sql.Tx, seq, mark, nowMs int64) error {
	if mark == 0 {
		return nil
	}
	cps, err := checkpoints(ctx, tx)
	if err != nil {
		return err
	}
	if n := len(cps); n > 0 && cps[n-1][0] == seq {
		return nil
	}
	cps = append(cps, checkpoint{seq, mark, nowMs})
	for len(cps) > maxCheckpoints {
		drop, gap := 1, int64(math.MaxInt64)
		for i := 1; i < len(cps)-1; i++ {
			// The gap it closes, weighed by its age: old positions need wider gaps to stay.
			if g := (cps[i+1][2] - cps[i-1][2]) * 1000 / max(nowMs-cps[i][2], 1); g < gap {
				drop, gap = i, g
			}
		}
		cps = slices.Delete(cps, drop, drop+1)
	}
	b, err := json.Marshal(cps)
	if err != nil {
		return err
	}
	return setMeta(ctx, tx, metaCheckpoints, string(b))
}

// forgetChangesOf drops kept changes of the given records (their text left the tablet).
func forgetChangesOf(ctx context.Context, tx *sql.Tx, recordIDs []string) error {
	if len(recordIDs) == 0 {
		return nil
	}
	args := make([]any, len(recordIDs))
	for i, id := range recordIDs {
		args[i] = id
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM acknowledged WHERE record_id IN (?`+strings.Repeat(", ?", len(recordIDs)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("forget kept changes: %w", err)
	}
	return nil
}
