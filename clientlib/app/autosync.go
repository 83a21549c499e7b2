package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/syncer"
)

// autoSync syncs the unlocked tablet on its own: when the server's Subscribe stream says it has
// something newer than the tablet's cursor, a short while after each write (so what she writes
// leaves the tablet within seconds once online), and every RetryEvery while changes wait or the
// server was out of reach.
type autoSync struct {
	app    *App
	tab    *clientlib.Tablet
	cancel context.CancelFunc
	done   sync.WaitGroup
	wake   chan struct{} // a write waits to be pushed
	heads  chan int64    // the server's head, from Subscribe

	mu       sync.Mutex
	online   bool
	syncing  bool
	lastErr  string // text key of the last sync's failure ("" after a success)
	wipedNow bool
}

func startAutoSync(a *App, tab *clientlib.Tablet) *autoSync {
	ctx, cancel := context.WithCancel(context.Background())
	s := &autoSync{app: a, tab: tab, cancel: cancel, wake: make(chan struct{}, 1), heads: make(chan int64, 1)}
	s.done.Add(2)
	go s.subscribe(ctx)
	go s.loop(ctx)
	return s
}

// stop ends the loop and waits for a sync in flight to stop, so the tablet can be closed.
func (s *autoSync) stop() {
	s.cancel()
	s.done.Wait()
}

// poke asks for a push soon. Offline it does nothing: the loop would only drop the wake (the
// Subscribe stream syncs what waits once it reaches the server), and waking it costs every
// save a hand-off between goroutines before her tap is answered.
func (s *autoSync) poke() {
	if !s.isOnline() {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// subscribe keeps the Subscribe stream open while it can, and tries again (backing off up to
// RetryEvery) when the server is out of reach.
func (s *autoSync) subscribe(ctx context.Context) {
	defer s.done.Done()
	wait := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := s.tab.Subscribe(ctx, func(head int64) {
			s.setOnline(true)
			wait = 500 * time.Millisecond
			select {
			case s.heads <- head:
			default:
				select { // replace an unread older head
				case <-s.heads:
				default:
				}
				s.heads <- head
			}
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, clientlib.ErrWiped) {
			s.app.tabletWiped()
			return
		}
		s.setOnline(false)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, s.app.cfg.RetryEvery)
	}
}

func (s *autoSync) loop(ctx context.Context) {
	defer s.done.Done()
	retry := time.NewTicker(s.app.cfg.RetryEvery)
	defer retry.Stop()
	s.syncNow(ctx) // what waited while the tablet was locked goes now
	for {
		select {
		case <-ctx.Done():
			return
		case head := <-s.heads:
			st, err := s.tab.Status(ctx)
			if err == nil && (head > st.Cursor || st.Pending > 0) {
				s.syncNow(ctx)
			}
		case <-s.wake:
			if !s.isOnline() {
				// Offline: the Subscribe stream syncs when it reaches the server again, and
				// the retry tick in between; a sync per write would only slow her typing.
				continue
			}
			select { // gather a burst of writes into one push
			case <-ctx.Done():
				return
			case <-time.After(s.app.cfg.PushDelay):
			}
			s.syncNow(ctx)
		case <-retry.C:
			st, err := s.tab.Status(ctx)
			s.mu.Lock()
			offline := !s.online || s.lastErr != ""
			s.mu.Unlock()
			if err == nil && (st.Pending > 0 || st.Awaiting > 0 || offline) {
				s.syncNow(ctx)
			}
		}
	}
}

// syncNow runs one sync and records how it went. A sync the lock cut short records nothing.
func (s *autoSync) syncNow(ctx context.Context) error {
	s.mu.Lock()
	s.syncing = true
	s.mu.Unlock()
	_, err := s.tab.Sync(ctx)
	if ctx.Err() != nil {
		return err
	}
	s.mu.Lock()
	s.syncing = false
	s.lastErr = ""
	switch {
	case err == nil:
		s.online = true
	case errors.Is(err, clientlib.ErrWiped):
		s.wipedNow = true
	case syncer.ErrorCode(err) == syncer.CodeUnavailable:
		s.online, s.lastErr = false, "err.offline"
	default:
		s.online, s.lastErr = true, errorKey(err)
	}
	wiped := s.wipedNow
	s.mu.Unlock()
	if err != nil {
		s.app.cfg.Logger.Info().Str("code", string(syncer.ErrorCode(err))).Msg("sync failed")
	} else {
		s.app.cfg.Logger.Info().Msg("synced")
	}
	if wiped {
		go s.app.tabletWiped()
	}
	return err
}

func (s *autoSync) isOnline() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.online
}

func (s *autoSync) setOnline(on bool) {
	s.mu.Lock()
	s.online = on
	s.mu.Unlock()
}

// state is what the sync bar shows of the loop.
func (s *autoSync) state() (online, syncing bool, lastErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.online, s.syncing, s.lastErr
}
