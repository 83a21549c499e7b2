package server

import (
	"context"
	"sync"

	"connectrpc.com/authn"
	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
)

// syncHandler serves SyncService.
type syncHandler struct {
	store    *Store
	notifier *notifier
	feed     *commitFeed
	stopping <-chan struct{} // closed when the server shuts down
}

var _ samvaerv1connect.SyncServiceHandler = (*syncHandler)(nil)

// identity returns the caller set by the authentication middleware.
func identity(ctx context.Context) (Identity, error) {
	id, ok := authn.GetInfo(ctx).(Identity)
	if !ok {
		return Identity{}, connect.NewError(connect.CodeUnauthenticated, nil)
	}
	return id, nil
}

func (h *syncHandler) Push(ctx context.Context, req *connect.Request[v1.PushRequest]) (*connect.Response[v1.PushResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	results, err := h.store.PushAt(ctx, id, req.Msg.Cursor, req.Msg.CursorMark, req.Msg.Changes)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	countResults(results)
	h.notifier.poke()
	return connect.NewResponse(&v1.PushResponse{Results: results, ServerTimeMs: h.store.nowMs()}), nil
}

func (h *syncHandler) Pull(ctx context.Context, req *connect.Request[v1.PullRequest]) (*connect.Response[v1.PullResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	res, err := h.store.Pull(ctx, id, req.Msg)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	pulledChanges.Add(float64(len(res.Changes) + len(res.Snapshot)))
	res.ServerTimeMs = h.store.nowMs()
	return connect.NewResponse(res), nil
}

// Subscribe sends the server's head at once, and again whenever a change the caller's tablet
// may pull has committed since (the head then is the newest commit, at least that change): an
// online tablet knows when a pull is worth doing, and is not woken by other cases' commits. The
// process's commit feed tells which commits concern whom and wakes only their streams; a stream
// makes no query of its own after the first head.
func (h *syncHandler) Subscribe(ctx context.Context, req *connect.Request[v1.SubscribeRequest], stream *connect.ServerStream[v1.SubscribeResponse]) error {
	id, err := identity(ctx)
	if err != nil {
		return err
	}
	_, next := h.feed.wait(id.UserID)
	head, err := h.store.Head(ctx) // exact, though the feed may not have read the newest yet
	if err != nil {
		return toConnect(ctx, err)
	}
	if err := stream.Send(&v1.SubscribeResponse{Head: head, ServerTimeMs: h.store.nowMs()}); err != nil {
		return err
	}
	sent := head
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.stopping:
			return nil
		case <-next:
		}
		// Woken: a batch concerns this user. Its head may still be one already sent, when
		// the first head was read past the feed.
		head, next = h.feed.wait(id.UserID)
		if head > sent {
			if err := stream.Send(&v1.SubscribeResponse{Head: head, ServerTimeMs: h.store.nowMs()}); err != nil {
				return err
			}
			sent = head
		}
	}
}

// authHandler serves AuthService; its calls need no access token.
type authHandler struct {
	store  *Store
	tokens *Tokens
}

var _ samvaerv1connect.AuthServiceHandler = (*authHandler)(nil)

func (h *authHandler) Enroll(ctx context.Context, req *connect.Request[v1.EnrollRequest]) (*connect.Response[v1.EnrollResponse], error) {
	deviceID, user, err := h.store.Enroll(ctx, req.Msg.Code, req.Msg.PublicKey, req.Msg.DeviceName)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.EnrollResponse{DeviceId: deviceID, UserId: user.ID, UserName: user.Name, ServerTimeMs: h.store.nowMs()}), nil
}

func (h *authHandler) Token(ctx context.Context, req *connect.Request[v1.TokenRequest]) (*connect.Response[v1.TokenResponse], error) {
	tok, expires, err := h.tokens.Issue(ctx, req.Msg.DeviceId, req.Msg.Nonce, req.Msg.TimeMs, req.Msg.Signature)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.TokenResponse{AccessToken: tok, ExpiresMs: expires.UnixMilli(), ServerTimeMs: h.store.nowMs()}), nil
}

// notifier wakes the commit feed when this process commits (and on PostgreSQL, when any
// instance does). The feed also polls, so changes written by admin commands on the same database
// are noticed too.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier {
	return &notifier{ch: make(chan struct{})}
}

// wait returns a channel that is closed at the next poke.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) poke() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
