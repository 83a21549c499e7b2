package server

import (
	"context"
	"database/sql"
	"fmt"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// Page bounds for Pull: a tablet may ask for less, never for more.
const (
	MaxPullChanges = 5000
	MaxPullBytes   = 4 << 20
)

// Page is one page of committed changes.
type Page struct {
	Changes    []*v1.CommittedChange
	NextCursor int64
	More       bool
}

// Pull returns committed changes after cursor that the user may see, in commit order, bounded by
// maxChanges and maxBytes (at least one change when any is due). It reads one consistent snapshot,
// so a page never holds half a push.
func (s *Store) Pull(ctx context.Context, id Identity, cursor int64, maxChanges int, maxBytes int64) (Page, error) {
	if maxChanges <= 0 || maxChanges > MaxPullChanges {
		maxChanges = MaxPullChanges
	}
	if maxBytes <= 0 || maxBytes > MaxPullBytes {
		maxBytes = MaxPullBytes
	}
	var page Page
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		var head int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&head); err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		if cursor > head || cursor < 0 {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "The tablet's sync position (%d) is beyond the server's newest change (%d); was the server restored from an older backup?", cursor, head)
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, effect FROM changes
			WHERE seq > ? AND effect IS NOT NULL
			  AND case_id IN (SELECT case_id FROM case_members WHERE user_id = ?)
			ORDER BY seq LIMIT ?`, cursor, id.UserID, maxChanges+1)
		if err != nil {
			return fmt.Errorf("read changes: %w", err)
		}
		defer rows.Close()
		var size int64
		page.NextCursor = head
		for rows.Next() {
			var seq int64
			var blob []byte
			if err := rows.Scan(&seq, &blob); err != nil {
				return err
			}
			if len(page.Changes) == maxChanges || (len(page.Changes) > 0 && size+int64(len(blob)) > maxBytes) {
				page.More = true
				page.NextCursor = page.Changes[len(page.Changes)-1].Seq
				break
			}
			ch := new(v1.CommittedChange)
			if err := proto.Unmarshal(blob, ch); err != nil {
				return fmt.Errorf("decode change %d: %w", seq, err)
			}
			size += int64(len(blob))
			page.Changes = append(page.Changes, ch)
		}
		return rows.Err()
	})
	return page, err
}
