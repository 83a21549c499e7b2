package server

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// commitFeed follows the change log for this process's Subscribe streams, so that a stream
// learns whether a commit concerns its user without a query of its own: one read per commit (or
// poll) for the whole process, instead of one per stream, and a stream wakes its tablet only for
// changes the tablet can pull. With a thousand streams and every commit waking all of them, the
// server spent its time answering Head queries and pulls that brought nothing (docs/benchmarks.md,
// "Load test").
//
// Each read is a batch: the new head, and the users who are members of a case that a change up
// to it touched, read in the same snapshot as the changes (a visit that makes a consultant a
// member of a new case commits the membership with the visit's change, so she is woken for it).
// Members include roles that hold nothing of the case; waking them costs one empty pull.
type commitFeed struct {
	store *Store
	poll  time.Duration
	poke  *notifier // local commits and, on PostgreSQL, every instance's

	mu      sync.Mutex
	head    int64
	batches []feedBatch // oldest first, at most maxFeedBatches
	changed chan struct{}
}

// feedBatch is one read of the log: the changes after from up to to, and who they concern (nil
// users: too many changes to list them, so every stream treats the batch as its own).
type feedBatch struct {
	from, to int64
	users    map[string]bool
}

const (
	maxFeedBatches = 1024
	// maxFeedRows bounds one read; a larger batch (a restore, a flood of admin commands read at
	// one poll) wakes every stream instead.
	maxFeedRows = 10_000
)

func newCommitFeed(store *Store, poll time.Duration, poke *notifier) *commitFeed {
	return &commitFeed{store: store, poll: poll, poke: poke, head: -1, changed: make(chan struct{})}
}

// run reads the log at once, then at every poke and every poll (changes written by admin
// commands in another process have no poke on SQLite), until ctx ends. A failed read is tried
// again at the next poll; streams meanwhile keep what they had.
func (f *commitFeed) run(ctx context.Context) {
	tick := time.NewTicker(f.poll)
	defer tick.Stop()
	for {
		woken := f.poke.wait() // taken before the read: a poke during it reads again
		if err := f.read(ctx); err != nil && ctx.Err() == nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("subscribe: reading the change log failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-woken:
		case <-tick.C:
		}
	}
}

// read takes the changes committed since the last read as a new batch.
func (f *commitFeed) read(ctx context.Context) error {
	f.mu.Lock()
	from := f.head
	f.mu.Unlock()
	b := feedBatch{from: max(from, 0), users: map[string]bool{}}
	err := f.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&b.to); err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		if from < 0 || b.to <= from {
			return nil // the first read, or nothing new
		}
		rows, err := tx.QueryContext(ctx, `SELECT m.user_id FROM changes c JOIN case_members m ON m.case_id = c.case_id
			WHERE c.seq > ? AND c.seq <= ? AND c.effect IS NOT NULL LIMIT ?`, from, b.to, maxFeedRows+1)
		if err != nil {
			return fmt.Errorf("read changes' members: %w", err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				return err
			}
			b.users[u] = true
			n++
		}
		if n > maxFeedRows {
			b.users = nil
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if b.to <= f.head {
		return nil
	}
	if from >= 0 {
		f.batches = append(f.batches, b)
		if len(f.batches) > maxFeedBatches {
			f.batches = append(f.batches[:0], f.batches[len(f.batches)-maxFeedBatches:]...)
		}
	}
	f.head = b.to
	close(f.changed)
	f.changed = make(chan struct{})
	return nil
}

// since reports the head and whether a change after seq concerns user (true also when the feed
// no longer holds every batch after seq), and a channel closed at the feed's next batch. head is
// -1 before the first read.
func (f *commitFeed) since(seq int64, user string) (head int64, concerns bool, next <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.head <= seq {
		return f.head, false, f.changed
	}
	if len(f.batches) == 0 || f.batches[0].from > seq {
		return f.head, true, f.changed
	}
	for i := len(f.batches) - 1; i >= 0 && f.batches[i].to > seq; i-- {
		if b := f.batches[i]; b.users == nil || b.users[user] {
			return f.head, true, f.changed
		}
	}
	return f.head, false, f.changed
}
