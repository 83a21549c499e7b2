package server

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"github.com/rs/zerolog"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// connectCodes maps application error codes to Connect codes: the one place this happens.
var connectCodes = map[syncer.Code]connect.Code{
	syncer.CodeInvalid:            connect.CodeInvalidArgument,
	syncer.CodeNotFound:           connect.CodeNotFound,
	syncer.CodeUnauthenticated:    connect.CodeUnauthenticated,
	syncer.CodePermissionDenied:   connect.CodePermissionDenied,
	syncer.CodeFailedPrecondition: connect.CodeFailedPrecondition,
	syncer.CodeAlreadyExists:      connect.CodeAlreadyExists,
	syncer.CodeResourceExhausted:  connect.CodeResourceExhausted,
	syncer.CodeUnavailable:        connect.CodeUnavailable,
	syncer.CodeUnimplemented:      connect.CodeUnimplemented,
	syncer.CodeInternal:           connect.CodeInternal,
}

// toConnect turns an error into a Connect error with a sentence a person understands. Errors that
// are not *syncer.Error are internal: they are logged (they may hold SQL, never field values) and
// the caller hears only that something went wrong.
func toConnect(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	// A revoked tablet is refused with a detail that tells it to wipe itself.
	var we *errWipe
	if errors.As(err, &we) {
		ce := connect.NewError(connect.CodeUnauthenticated, errors.New(we.Error()))
		if detail, derr := connect.NewErrorDetail(&v1.WipeInstruction{Revocation: we.revocation}); derr == nil {
			ce.AddDetail(detail)
		}
		return ce
	}
	// A tablet whose history the server does not hold is told how, so it can repair it.
	var he *errHistory
	if errors.As(err, &he) {
		historyMismatches.WithLabelValues(he.detail.Kind.String()).Inc()
		ce := connect.NewError(connect.CodeFailedPrecondition, errors.New(he.Error()))
		if detail, derr := connect.NewErrorDetail(he.detail); derr == nil {
			ce.AddDetail(detail)
		}
		return ce
	}
	if errors.Is(err, context.Canceled) {
		return connect.NewError(connect.CodeCanceled, errors.New("The request was cancelled."))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("The request took too long."))
	}
	code := syncer.ErrorCode(err)
	if code == syncer.CodeInternal {
		zerolog.Ctx(ctx).Error().Err(err).Msg("internal error")
	}
	if errors.Is(err, errDiskFull) {
		zerolog.Ctx(ctx).Error().Err(err).Msg("store write failed: the disk is full")
	}
	return connect.NewError(connectCodes[code], errors.New(syncer.ErrorMessage(err)))
}
