package clientlib

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// The sync loop: push the outbox, then pull the server's committed changes. Every step commits
// on its own, so a sync cut off anywhere (a lost response, a killed app) loses nothing and the
// next sync carries on: a push whose answer was lost is sent again and the server answers it with
// its first results; a pull resumes from the stored cursor.

// pushBytes bounds the changes in one push, well under the server's request limit.
const pushBytes = 4 << 20

// SyncResult counts what one sync did.
type SyncResult struct {
	// Pushed changes were settled by the server: applied, merged, conflict-recorded or rejected.
	Pushed    int `json:"pushed"`
	Applied   int `json:"applied"`
	Merged    int `json:"merged"`
	Conflicts int `json:"conflicts"`
	Rejected  int `json:"rejected"`
	// Pulled is the number of committed changes received.
	Pulled int `json:"pulled"`
	// Purged is the number of delivered reports whose text left the tablet.
	Purged int `json:"purged"`
	// UnlockFailuresReported is the number of wrong PINs the server's audit log took.
	UnlockFailuresReported int `json:"unlock_failures_reported"`
	// Renumbered is the number of changes numbered anew and sent again because the tablet or the
	// server had been restored from an older copy (history.go).
	Renumbered int `json:"renumbered"`
}

// Sync pushes every pending change and pulls everything the server committed since the last
// sync. Syncs run one at a time.
//
// Sync works on a locked tablet (it is how the tablet unlocks). When the server says the tablet
// was revoked, Sync wipes the tablet and returns ErrWiped.
//
// After the data transfer, Sync reports the wrong PINs entered since the last report to the
// server's audit log. When that fails, the changes pushed and pulled stay committed (and the
// sync time recorded), the failures are kept for the next sync, and Sync returns the error.
func (t *Tablet) Sync(ctx context.Context) (SyncResult, error) {
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	if t.isWiped() {
		return SyncResult{}, ErrWiped
	}
	r, err := t.sync(ctx)
	if w := new(errWipeRequired); errors.As(err, &w) {
		if w.revocation == v1.Revocation_REVOCATION_RETIRED {
			// A retired tablet may still report, like its final push. Best effort: it is wiped
			// whatever the answer, and its wrong PINs go with its data.
			r.UnlockFailuresReported, _ = t.reportUnlockFailures(ctx)
		}
		return r, t.obeyWipe(ctx)
	}
	return r, err
}

func (t *Tablet) sync(ctx context.Context) (SyncResult, error) {
	var r SyncResult
	err := t.transfer(ctx, &r)
	// A history the server does not share (a restore of either end) is repaired here, by the
	// tablet alone, and the transfer runs again (history.go).
	for i := 0; i < maxRepairs; i++ {
		var h *errHistory
		if !errors.As(err, &h) {
			break
		}
		n, rerr := t.repair(ctx, h.detail)
		if rerr != nil {
			return r, rerr
		}
		r.Renumbered += n
		err = t.transfer(ctx, &r)
	}
	if err != nil {
		return r, err
	}
	if r.Purged, err = t.purgeDelivered(ctx); err != nil {
		return r, err
	}
	now := t.nowMs()
	err = t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := t.store.forgetAcknowledged(ctx, tx, now-t.opts.KeepAcknowledged.Milliseconds()); err != nil {
			return err
		}
		return setMeta(ctx, tx, metaLastSync, itoa(now), metaLastContact, itoa(now), metaClockOffset, itoa(t.clockOffset()))
	})
	if err != nil {
		return r, err
	}
	t.mu.Lock()
	t.contactMs = now
	t.mu.Unlock()
	r.UnlockFailuresReported, err = t.reportUnlockFailures(ctx)
	return r, err
}

// transfer pushes the outbox, then pulls.
//
// The pull could run beside the push, applying the tablet's own changes as they come back while
// the server applies the next batch (each page waiting for the answers it confirms). It was
// built and measured (docs/benchmarks.md): on this project's shared two-core machines, under
// their usual load, it was slower than pushing first, as the server's push and the tablet's
// writes then compete for the same cores. Push first, then pull, keeps the order by construction.
func (t *Tablet) transfer(ctx context.Context, r *SyncResult) error {
	if err := t.push(ctx, r); err != nil {
		return err
	}
	return t.pull(ctx, r)
}

// push sends unacknowledged outbox entries in device_seq order, in batches, and settles each
// batch's results. Each push names the tablet's pull position, which the changes' base
// revisions refer to.
//
// Pushes go one at a time, in order (the server applies a device's changes in seq order), but
// the tablet's own work overlaps the server's: the next batch is read and unsealed while the
// server applies the current one, and is sent before the current one's answers are settled. A
// sync cut off anywhere leaves the unsettled batches pending; they are sent again and the server
// answers them with their first results.
func (t *Tablet) push(ctx context.Context, r *SyncResult) error {
	cursor, err := metaInt(ctx, t.store.db.Read, metaCursor)
	if err != nil {
		return err
	}
	mark, err := metaInt(ctx, t.store.db.Read, metaCursorMark)
	if err != nil {
		return err
	}
	batch, err := t.nextBatch(ctx, 0)
	if err != nil || len(batch) == 0 {
		return err
	}
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		res *v1.PushResponse
		err error
	}
	send := func(batch []*v1.Change) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			res, err := call(sendCtx, t, "push", &v1.PushRequest{Changes: batch, Cursor: cursor, CursorMark: mark}, t.syncRPC.Push)
			ch <- answer{res, err}
		}()
		return ch
	}
	inflight := send(batch)
	for {
		next, nextErr := t.nextBatch(ctx, batch[len(batch)-1].DeviceSeq)
		a := <-inflight
		if a.err != nil {
			return a.err
		}
		if nextErr != nil {
			return nextErr
		}
		t.observeServerTime(a.res.ServerTimeMs)
		var pending <-chan answer
		if len(next) > 0 {
			pending = send(next)
		}
		var got SyncResult
		err := t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
			var err error
			got, err = t.settle(ctx, tx, a.res.Results)
			return err
		})
		if err != nil {
			if pending != nil {
				cancel()
				<-pending // no call outlives the sync; its answer is heard at the next one
			}
			return err
		}
		r.Pushed += got.Pushed
		r.Applied += got.Applied
		r.Merged += got.Merged
		r.Conflicts += got.Conflicts
		r.Rejected += got.Rejected
		if pending == nil {
			return nil
		}
		batch, inflight = next, pending
	}
}

// nextBatch reads the unacknowledged changes after seq, in order, bounded in count and bytes.
func (t *Tablet) nextBatch(ctx context.Context, after int64) ([]*v1.Change, error) {
	rows, err := t.store.db.Read.QueryContext(ctx, `SELECT seq, change FROM outbox WHERE server_seq = 0 AND seq > ?
		ORDER BY seq LIMIT ?`, after, t.opts.PushBatch)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var batch []*v1.Change
	size := 0
	for rows.Next() {
		var seq int64
		var blob []byte
		if err := rows.Scan(&seq, &blob); err != nil {
			return nil, err
		}
		if size += len(blob); len(batch) > 0 && size > pushBytes {
			break
		}
		c, err := t.store.decodeChange(seq, blob)
		if err != nil {
			return nil, err
		}
		batch = append(batch, c)
	}
	return batch, rows.Err()
}

// maxReasonBytes bounds a stored rejection reason.
const maxReasonBytes = 2000

// settle records the server's results for pushed changes in the caller's write transaction. A
// rejected change moves to the dead letters with its reason; the others are acknowledged: an
// entry whose effect the pull cursor already covers (or that had none) goes, the rest wait for
// the pull that brings their commit. A result for an entry settled before is harmless: an entry
// is acknowledged only while it is pending, so it counts once.
func (t *Tablet) settle(ctx context.Context, tx *sql.Tx, results []*v1.ChangeResult) (SyncResult, error) {
	var r SyncResult
	cursor, err := metaInt(ctx, tx, metaCursor)
	if err != nil {
		return r, err
	}
	acked, err := metaInt(ctx, tx, metaAckedSeq)
	if err != nil {
		return r, err
	}
	now := t.nowMs()
	// The acknowledgements go in one statement: a push settles hundreds of results. An entry is
	// acknowledged only while it is pending, so RETURNING names those that count.
	acks := make([][3]any, 0, len(results))
	kind := make(map[int64]v1.Result, len(results))
	for _, res := range results {
		acked = max(acked, res.DeviceSeq)
		if _, seen := kind[res.DeviceSeq]; seen {
			continue // a duplicate within one response counts once
		}
		kind[res.DeviceSeq] = res.Result
		switch res.Result {
		case v1.Result_RESULT_REJECTED:
			if ok, err := t.reject(ctx, tx, res, now); err != nil {
				return r, err
			} else if ok {
				r.Rejected++
				r.Pushed++
			}
		case v1.Result_RESULT_APPLIED, v1.Result_RESULT_MERGED, v1.Result_RESULT_CONFLICT:
			receipt, err := receiptHex(res)
			if err != nil {
				return r, err
			}
			acks = append(acks, [3]any{res.DeviceSeq, res.ServerSeq, receipt})
		default:
			// a result this app does not know: keep the change; it is sent again
		}
	}
	var confirmed []int64 // acknowledged entries the cursor already covers
	if len(acks) > 0 {
		list, err := json.Marshal(acks)
		if err != nil {
			return r, err
		}
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET server_seq = a.value ->> 1, receipt = unhex(a.value ->> 2) FROM json_each(?) AS a
			WHERE outbox.seq = a.value ->> 0 AND outbox.server_seq = 0 RETURNING outbox.seq, outbox.server_seq`, string(list))
		if err != nil {
			return r, fmt.Errorf("settle pushed changes: %w", err)
		}
		for rows.Next() {
			var seq, serverSeq int64
			if err := rows.Scan(&seq, &serverSeq); err != nil {
				rows.Close()
				return r, fmt.Errorf("settle pushed changes: %w", err)
			}
			switch kind[seq] {
			case v1.Result_RESULT_APPLIED:
				r.Applied++
			case v1.Result_RESULT_MERGED:
				r.Merged++
			case v1.Result_RESULT_CONFLICT:
				r.Conflicts++
			}
			r.Pushed++
			if serverSeq <= cursor {
				confirmed = append(confirmed, seq)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return r, fmt.Errorf("settle pushed changes: %w", err)
		}
	}
	if len(confirmed) > 0 {
		list, err := json.Marshal(confirmed)
		if err != nil {
			return r, err
		}
		if err := keepConfirmed(ctx, tx, now, `seq IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
			return r, err
		}
	}
	return r, setMeta(ctx, tx, metaClockOffset, itoa(t.clockOffset()), metaAckedSeq, itoa(acked))
}

// reject moves a refused change from the outbox to the dead letters with the server's reason,
// also when it was acknowledged before. It reports whether the change was still in the outbox.
func (t *Tablet) reject(ctx context.Context, tx *sql.Tx, res *v1.ChangeResult, nowMs int64) (bool, error) {
	var recordID string
	var blob []byte
	err := tx.QueryRowContext(ctx, `SELECT record_id, change FROM outbox WHERE seq = ?`, res.DeviceSeq).Scan(&recordID, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // settled before
	}
	if err != nil {
		return false, fmt.Errorf("read outbox: %w", err)
	}
	reason := res.Reason
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes]
	}
	if reason == "" {
		reason = "The server refused this change without giving a reason."
	}
	// An escrowed change (escrow.go, the only kind without a record id) is of a case the tablet
	// no longer holds, and nobody here can read it: refused, it is not shown, only dropped.
	if recordID != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (seq, record_id, change, reason, at_ms)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`, res.DeviceSeq, recordID, blob, reason, nowMs); err != nil {
			return false, fmt.Errorf("keep rejected change %d: %w", res.DeviceSeq, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ?`, res.DeviceSeq); err != nil {
		return false, fmt.Errorf("settle change %d: %w", res.DeviceSeq, err)
	}
	return true, nil
}

// pull applies pages of committed changes after the stored cursor until the server has no more.
// Each page is applied in one write transaction, so memory holds one page at most and an
// interrupted pull resumes from the last applied page.
func (t *Tablet) pull(ctx context.Context, r *SyncResult) error {
	cursor, err := metaInt(ctx, t.store.db.Read, metaCursor)
	if err != nil {
		return err
	}
	mark, err := metaInt(ctx, t.store.db.Read, metaCursorMark)
	if err != nil {
		return err
	}
	known, err := knownCases(ctx, t.store.db.Read)
	if err != nil {
		return err
	}
	// A pull that fetches everything afresh (history.go) replaces every record at its first page,
	// which first purges the cases no longer in scope by those records: none is dropped before.
	if resync, err := metaInt(ctx, t.store.db.Read, metaResync); err != nil {
		return err
	} else if resync != 1 {
		if err := t.dropPartialCases(ctx, known); err != nil {
			return err
		}
	}
	// The next page is fetched, and its records' states sealed, while this one is written, so
	// the server's reading, the tablet's sealing and its writing overlap. At most two pages are
	// in memory.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		res *pulledPage
		err error
	}
	fetch := func(req *v1.PullRequest) <-chan fetched {
		req.MaxChanges, req.MaxBytes = int32(t.opts.PageChanges), t.opts.PageBytes
		ch := make(chan fetched, 1)
		go func() {
			res, err := call(ctx, t, "pull", req, t.syncRPC.Pull)
			if err != nil {
				ch <- fetched{nil, err}
				return
			}
			p, err := t.store.preparePage(res)
			ch <- fetched{p, err}
		}()
		return ch
	}
	next := fetch(&v1.PullRequest{Cursor: cursor, CursorMark: mark, KnownCases: slices.Clone(known)})
	purged := false
	for {
		f := <-next
		if f.err != nil {
			return f.err
		}
		res := f.res
		t.observeServerTime(res.ServerTimeMs)
		if res.More && res.NextCursor < cursor {
			return syncer.Errorf(syncer.CodeInternal, "The server's answer to a pull went back before change %d.", cursor)
		}
		known = slices.DeleteFunc(append(known, res.CompleteCases...), func(c string) bool { return slices.Contains(res.PurgeCases, c) })
		slices.Sort(known)
		known = slices.Compact(known)
		if res.More {
			next = fetch(&v1.PullRequest{Cursor: res.NextCursor, CursorMark: res.NextCursorMark, KnownCases: slices.Clone(known),
				SnapshotCase: res.SnapshotCase, SnapshotAfter: res.SnapshotAfter})
		}
		var purgedNow bool
		err = t.store.db.WriteTx(ctx, func(tx *sql.Tx) (err error) {
			purgedNow, err = t.applyPulled(ctx, tx, res, known)
			return err
		})
		if err != nil {
			return err
		}
		purged = purged || purgedNow
		r.Pulled += len(res.Changes) + len(res.Snapshot)
		cursor = res.NextCursor
		if !res.More {
			break
		}
	}
	if purged {
		// Deleted pages may still sit in the WAL until it is checkpointed.
		return t.store.db.Checkpoint(ctx)
	}
	return nil
}

// call makes one SyncService call with the access token. When the server refuses the token (it
// may have expired early, or the server's keys changed), it gets a new one and tries once more.
func call[Req, Res any](ctx context.Context, t *Tablet, what string, msg *Req,
	rpc func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error)) (*Res, error) {
	for attempt := 0; ; attempt++ {
		tok, err := t.AccessToken(ctx)
		if err != nil {
			return nil, err
		}
		req := connect.NewRequest(msg)
		req.Header().Set("Authorization", "Bearer "+tok)
		res, err := rpc(ctx, req)
		if err == nil {
			return res.Msg, nil
		}
		if w := wipeInstruction(err); w != nil {
			return nil, w
		}
		if h := historyMismatch(err); h != nil {
			return nil, &errHistory{detail: h, cause: wireError(what, err)}
		}
		if connect.CodeOf(err) == connect.CodeUnauthenticated && attempt == 0 {
			t.forgetToken()
			continue
		}
		// A connection the server closed (it restarted, or a proxy timed out) fails the first
		// request sent on it. Push and pull are both safe to repeat — the server applies each
		// change once, by its sequence — so one retry on a fresh connection saves a failed sync.
		if (connect.CodeOf(err) == connect.CodeUnavailable || connectionLost(err)) && attempt == 0 {
			continue
		}
		return nil, wireError(what, err)
	}
}

// Messages for failures of the connection rather than of the request.
const (
	offlineMessage   = "The server cannot be reached; your changes are kept and will be sent at the next sync."
	cancelledMessage = "The sync was stopped; your changes are kept and will be sent at the next sync."
)

// wireCodes maps Connect codes to the application's: the one place the tablet does this. The
// server's message is kept, since it is written for a person.
var wireCodes = map[connect.Code]syncer.Code{
	connect.CodeInvalidArgument:    syncer.CodeInvalid,
	connect.CodeOutOfRange:         syncer.CodeInvalid,
	connect.CodeNotFound:           syncer.CodeNotFound,
	connect.CodeAlreadyExists:      syncer.CodeAlreadyExists,
	connect.CodeUnauthenticated:    syncer.CodeUnauthenticated,
	connect.CodePermissionDenied:   syncer.CodePermissionDenied,
	connect.CodeFailedPrecondition: syncer.CodeFailedPrecondition,
	connect.CodeUnimplemented:      syncer.CodeUnimplemented,
	connect.CodeResourceExhausted:  syncer.CodeResourceExhausted,
	connect.CodeInternal:           syncer.CodeInternal,
	connect.CodeDataLoss:           syncer.CodeInternal,
	connect.CodeUnknown:            syncer.CodeInternal,
}

// connectionLost reports whether a call failed because the connection broke (closed or reset
// midway, e.g. by a proxy or a server that died), not because the server answered with an
// error, nor because the tablet gave up: Connect reports a response cut short as Unknown "read
// message: unexpected EOF", and a connection reset by the other end as Canceled.
func connectionLost(err error) bool {
	if err == nil || connect.IsWireError(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.As(err, &ne)
}

// wireError turns an error from a Connect call into a *syncer.Error with the same meaning,
// wrapped with what the tablet was doing and the underlying cause.
func wireError(what string, err error) error {
	var serr *syncer.Error
	switch code := connect.CodeOf(err); {
	case code == connect.CodeCanceled && !connectionLost(err):
		serr = syncer.Errorf(syncer.CodeUnavailable, cancelledMessage)
	case code == connect.CodeUnavailable, code == connect.CodeDeadlineExceeded, code == connect.CodeAborted, connectionLost(err):
		serr = syncer.Errorf(syncer.CodeUnavailable, offlineMessage)
	default:
		msg := ""
		var ce *connect.Error
		if errors.As(err, &ce) {
			msg = ce.Message()
		}
		if msg == "" {
			msg = fmt.Sprintf("The server refused to %s (%s).", what, code)
		}
		serr = &syncer.Error{Code: wireCodes[code], Message: msg}
		if serr.Code == "" {
			serr.Code = syncer.CodeInternal
		}
	}
	return fmt.Errorf("%s: %w (%v)", what, serr, err)
}

// dropPartialCases deletes the records of cases the tablet does not hold in full: what a snapshot
// interrupted by a kill, or by the case leaving the user's scope between its pages, left behind.
// The server names only the cases a tablet says it holds when it purges, so such records would
// otherwise stay for good; a case still in scope comes again whole in this pull's snapshot.
// Changes waiting in the outbox stay: they are pushed (or refused) as usual.
func (t *Tablet) dropPartialCases(ctx context.Context, known []string) error {
	list, err := json.Marshal(append([]string{}, known...)) // "[]", never "null", for json_each
	if err != nil {
		return err
	}
	const partial = `FROM records WHERE case_id <> '' AND case_id NOT IN (SELECT value FROM json_each(?))`
	var left bool
	if err := t.store.db.Read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 `+partial+`)`, string(list)).Scan(&left); err != nil || !left {
		return err // a sync with nothing left over writes nothing
	}
	return t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE `+partial, string(list))
		if err != nil {
			return fmt.Errorf("drop partly received cases: %w", err)
		}
		return nil
	})
}
