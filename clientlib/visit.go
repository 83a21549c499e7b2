package clientlib

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// What a visit screen needs besides the list of visits: one visit on its own (a page shows one
// visit, and must not read every visit on the tablet to do so), whether its report may be
// submitted at all, and a stream that says when a pull is worth doing.

// Visit returns one visit on the tablet as Visits shows it.
func (t *Tablet) Visit(ctx context.Context, visitID string) (Visit, error) {
	if err := t.usable(); err != nil {
		return Visit{}, err
	}
	var v Visit
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		rec, err := t.store.findVisit(ctx, tx, visitID)
		if err != nil {
			return err
		}
		pending, err := t.store.pendingByRecord(ctx, tx)
		if err != nil {
			return err
		}
		v, err = t.visitShown(ctx, tx, rec, pending)
		return err
	})
	return v, err
}

// visitShown is a visit as the tablet shows it, with whether its report is overdue now.
func (t *Tablet) visitShown(ctx context.Context, q querier, rec *v1.CommittedChange, pending map[string][]outboxEntry) (Visit, error) {
	v, err := t.store.visitView(ctx, q, rec, pending)
	if err != nil || v.ReportState != syncer.StateDraft || v.ReportID == "" {
		return v, err
	}
	rep, err := records.Load(ctx, q, t.store.keys, v.ReportID)
	if err != nil {
		return Visit{}, err
	}
	v.ReportOverdue = syncer.ReportOverdue(rec, rep, syncer.DefaultReportOverdueMs, t.nowMs())
	return v, nil
}

// WrittenDescriptionsAllowed applies the consent rule Submit applies to a visit, without
// submitting: a screen says before she starts writing that a supported visit without consent
// gets no report. nil means a report may be submitted.
func (t *Tablet) WrittenDescriptionsAllowed(ctx context.Context, visitID string) error {
	if err := t.usable(); err != nil {
		return err
	}
	return t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		visit, err := t.store.findVisit(ctx, tx, visitID)
		if err != nil {
			return err
		}
		return t.store.consentRule(ctx, tx, visit)
	})
}

// consentRule is syncer.WrittenDescriptionsAllowed for a visit, with the decision it rests on.
func (s *store) consentRule(ctx context.Context, q querier, visit *v1.CommittedChange) error {
	decisions, err := records.Query(ctx, q, s.keys, `SELECT id, state FROM records WHERE case_id = ? AND type = ?`, visit.Record.CaseId, syncer.TypeDecision)
	if err != nil {
		return err
	}
	return syncer.WrittenDescriptionsAllowed(visit, syncer.DecisionFor(visit, decisions))
}

// Subscribe holds the server's Subscribe stream open and calls onHead with the server's newest
// commit sequence at once and whenever it moves, until ctx ends or the stream breaks (then it
// returns the error; the caller decides when to try again). It carries no case data.
func (t *Tablet) Subscribe(ctx context.Context, onHead func(head int64)) error {
	tok, err := t.AccessToken(ctx)
	if err != nil {
		return err
	}
	cursor, err := metaInt(ctx, t.store.db.Read, metaCursor)
	if err != nil {
		return err
	}
	req := connect.NewRequest(&v1.SubscribeRequest{Cursor: cursor})
	req.Header().Set("Authorization", "Bearer "+tok)
	stream, err := t.syncRPC.Subscribe(ctx, req)
	if err != nil {
		return wireError("subscribe", err)
	}
	defer stream.Close()
	for stream.Receive() {
		t.observeServerTime(stream.Msg().ServerTimeMs)
		onHead(stream.Msg().Head)
	}
	if err := stream.Err(); err != nil && !errors.Is(err, context.Canceled) {
		if w := wipeInstruction(err); w != nil {
			return w
		}
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			t.forgetToken()
		}
		return wireError("subscribe", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("subscribe: %w", syncer.Errorf(syncer.CodeUnavailable, offlineMessage))
}
