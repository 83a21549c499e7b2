package server

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/samvaer/sync/syncer"
)

// commitFeed follows the change log for this process's Subscribe streams, so that a stream
// learns whether a commit concerns its user without a query of its own: one read per commit (or
// poll) for the whole process, instead of one per stream, and only the streams of the users a
// commit concerns wake, so a stream wakes its tablet only for changes the tablet can pull. With a
// thousand streams and every commit waking all of them, the server spent its time answering Head
// queries and pulls that brought nothing (docs/benchmarks.md, "Load test").
//
// Each read is a batch: the new head, and the users whose part in a case that a change up to it
// touched holds the case on a device (syncer.HoldsCase: a caseworker or coordinator pulls
// nothing of it, so her streams are not woken for it), read in the same snapshot as the changes
// (a visit that makes a consultant a member of a new case commits the membership with the visit's
// change, so she is woken for it).
type commitFeed struct {
	store *Store
	poll  time.Duration
	poke  *notifier // local commits and, on PostgreSQL, every instance's

	maxRows int // maxFeedRows; smaller in tests

	mu      sync.Mutex
	head    int64
	waiters map[string]chan struct{} // per user, closed at the next batch concerning the user
}

// holdingRoles are the case roles that hold a case's records on a device: a member holds the
// case when one of her roles in it does (syncer.HoldsCase asks of any role). holdingRolesSQL
// lists them quoted for SQL.
var (
	holdingRoles = func() []string {
		var held []string
		for _, r := range syncer.CaseRoles {
			if syncer.HoldsCase([]string{r}) {
				held = append(held, r)
			}
		}
		return held
	}()
	holdingRolesSQL = "'" + strings.Join(holdingRoles, "', '") + "'"
)

// maxFeedRows bounds one read; a larger batch (a restore, a flood of admin commands read at one
// poll) wakes every stream instead.
const maxFeedRows = 10_000

func newCommitFeed(store *Store, poll time.Duration, poke *notifier) *commitFeed {
	return &commitFeed{store: store, poll: poll, poke: poke, maxRows: maxFeedRows, head: -1, waiters: map[string]chan struct{}{}}
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

// read takes the changes committed since the last read, and wakes the streams of the users they
// concern (all streams when there are too many to list).
func (f *commitFeed) read(ctx context.Context) error {
	f.mu.Lock()
	from := f.head
	f.mu.Unlock()
	after := from
	if from < 0 {
		after = math.MaxInt64 // the first read: only the head
	}
	// The head and the users in one statement, so one snapshot without a transaction: on
	// PostgreSQL one round trip per commit and instance, where a transaction took three.
	rows, err := f.store.read.QueryContext(ctx, `SELECT h.head, u.user_id FROM (SELECT COALESCE(MAX(seq), 0) AS head FROM changes) h
		LEFT JOIN (SELECT m.user_id FROM changes c JOIN case_members m ON m.case_id = c.case_id
			WHERE c.seq > ? AND c.effect IS NOT NULL AND m.role IN (`+holdingRolesSQL+`) LIMIT ?) u ON 1 = 1`, after, f.maxRows+1)
	if err != nil {
		return fmt.Errorf("read changes' members: %w", err)
	}
	defer rows.Close()
	var head int64
	users := map[string]bool{}
	n := 0
	for rows.Next() {
		var u sql.NullString
		if err := rows.Scan(&head, &u); err != nil {
			return err
		}
		if u.Valid {
			users[u.String] = true
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read changes' members: %w", err)
	}
	if n > f.maxRows {
		users = nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if head <= f.head {
		return nil
	}
	f.head = head
	for u, ch := range f.waiters {
		if users == nil || users[u] {
			close(ch)
			delete(f.waiters, u)
		}
	}
	return nil
}

// wait returns the feed's head (-1 before its first read) and a channel closed at the next batch
// that concerns user.
func (f *commitFeed) wait(user string) (head int64, next <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.waiters[user]
	if !ok {
		ch = make(chan struct{})
		f.waiters[user] = ch
	}
	return f.head, ch
}
