package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// The log's history, as tablets hold it: what lets the server tell a retried change from a
// reused sequence number (a tablet restored from an older copy of its home), and a tablet tell
// that the server was restored from an older backup. docs/architecture.md ("Restores") has the
// design; docs/operations.md the operator's side.

// contentHashKeyName names the secret that keys the content hashes in server_secrets.
const contentHashKeyName = "content_hash_key"

func secretAD(name string) []byte { return columnAD("server_secrets.value", name) }

// contentHasher makes the keyed hashes of a push's changes as pushed: equal for a retry of the
// same change, different for another change under the same sequence number. One HMAC and one
// buffer serve the whole push (a new HMAC per change was a fifth of hashing it).
type contentHasher struct {
	mac   hash.Hash
	plain []byte
}

func newContentHasher(key []byte) *contentHasher {
	return &contentHasher{mac: hmac.New(sha256.New, key)}
}

func (h *contentHasher) hash(c *v1.Change) ([]byte, error) {
	var err error
	if h.plain, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(h.plain[:0], c); err != nil {
		return nil, fmt.Errorf("hash change %d: %w", c.DeviceSeq, err)
	}
	h.mac.Reset()
	h.mac.Write(h.plain)
	return h.mac.Sum(nil), nil
}

// newMark is the random mark of one write transaction's commits (never 0, which means unknown).
func newMark() (int64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		// Positive, so it prints and compares the same in SQLite, Go and JSON.
		if m := int64(binary.BigEndian.Uint64(b[:]) >> 1); m != 0 {
			return m, nil
		}
	}
}

// markAt returns the mark of the commit at seq; found is false when the log has no such commit.
func markAt(ctx context.Context, q querier, seq int64) (mark int64, found bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT mark FROM changes WHERE seq = ?`, seq).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read log position: %w", err)
	}
	return mark, true, nil
}

// errHistory refuses a push or pull whose tablet holds a history the server does not: the
// tablet repairs it by itself, guided by the detail.
type errHistory struct {
	err    *syncer.Error
	detail *v1.HistoryMismatch
}

func (e *errHistory) Error() string { return e.err.Message }
func (e *errHistory) Unwrap() error { return e.err }

// checkPositionAt refuses a tablet whose pull position (cursor, mark) names a commit this log
// does not hold: the server was restored from a backup older than what the tablet pulled. The
// caller read, in its transaction, the mark of the log's row at cursor (atCursor; NULL when the
// log has no such row).
func checkPositionAt(ctx context.Context, q querier, deviceID string, cursor, mark, head int64, atCursor sql.NullInt64) error {
	if cursor == 0 {
		return nil
	}
	found := cursor > 0 && cursor <= head
	if found && mark != 0 {
		found = atCursor.Valid && atCursor.Int64 == mark
	}
	if found {
		return nil
	}
	last, err := deviceLastSeq(ctx, q, deviceID)
	if err != nil {
		return err
	}
	return &errHistory{
		err: syncer.Errorf(syncer.CodeFailedPrecondition,
			"The server no longer holds what this tablet last received from it (change %d; the server's newest is %d): it was restored from an older backup. The tablet sends again what it wrote and fetches everything afresh.", cursor, head),
		detail: &v1.HistoryMismatch{Kind: v1.HistoryMismatch_KIND_SERVER_RESTORED, DeviceLastSeq: last, Head: head},
	}
}

// deviceLastSeq is the highest device_seq of a device the server holds.
func deviceLastSeq(ctx context.Context, q querier, deviceID string) (int64, error) {
	var last int64
	if err := q.QueryRowContext(ctx, `SELECT last_seq FROM devices WHERE id = ?`, deviceID).Scan(&last); err != nil {
		return 0, fmt.Errorf("read device: %w", err)
	}
	return last, nil
}

// lostChanges refuses a push that starts after a gap: the server lost changes of this device it
// had acknowledged (it was restored from an older backup), which the tablet sends again.
func lostChanges(first, lastSeq, head int64) error {
	return &errHistory{
		err: syncer.Errorf(syncer.CodeFailedPrecondition,
			"Changes %d to %d from this tablet never reached the server, or it lost them when it was restored from an older backup; the tablet sends them again.", lastSeq+1, first-1),
		detail: &v1.HistoryMismatch{Kind: v1.HistoryMismatch_KIND_SERVER_RESTORED, DeviceLastSeq: lastSeq, Head: head},
	}
}

// reusedSeq refuses a push whose change seq differs from the change the server holds under that
// number: the tablet was restored from an older copy of its home and numbers new changes anew.
func reusedSeq(seq, lastSeq, head int64) error {
	return &errHistory{
		err: syncer.Errorf(syncer.CodeFailedPrecondition,
			"Change %d from this tablet is not the change the server holds under that number (it holds this tablet's changes up to %d): the tablet was restored from an older copy. The tablet numbers its new changes after %d and sends them again.", seq, lastSeq, lastSeq),
		detail: &v1.HistoryMismatch{Kind: v1.HistoryMismatch_KIND_SEQ_REUSED, DeviceSeq: seq, DeviceLastSeq: lastSeq, Head: head},
	}
}
