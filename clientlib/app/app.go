package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/syncer"
)

// Config configures the app. Home and Options are those of the tablet; Options.PIN is ignored
// (the PIN is asked on the page).
type Config struct {
	Home    string
	Options clientlib.Options
	// IdleLock is how long the app stays unlocked without a person using it (default 5 minutes).
	IdleLock time.Duration
	// PushDelay is how soon after a write the app pushes it (default 2 seconds), so writes made
	// in a burst go in one push.
	PushDelay time.Duration
	// RetryEvery is how often an offline app tries the server again (default 15 seconds).
	RetryEvery time.Duration
	// Logger gets one line per request (method, path, status, duration) and per sync; never a
	// form value, never what a person wrote.
	Logger zerolog.Logger
	// Now is the clock for the idle lock; nil means time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultIdleLock   = 5 * time.Minute
	DefaultPushDelay  = 2 * time.Second
	DefaultRetryEvery = 15 * time.Second
)

// App serves the consultant's pages for one tablet home. It holds the tablet open only while
// unlocked; locking forgets the data key.
type App struct {
	cfg Config

	mu       sync.Mutex
	addr     string               // host:port it listens on
	starts   map[string]time.Time // unspent one-time start secrets and when they were made
	session  string               // the session cookie's value; "" until a start URL is opened
	csrf     string               // the session's CSRF token
	langs    map[string]Lang
	lang     string // danish or english
	lastUse  time.Time
	idled    bool   // the last lock came from the idle timer
	flash    string // a notice for the next page, by text key (never words from a request)
	flashArg string
	wiped    bool

	tabMu sync.RWMutex      // held for reading while a handler uses tab; for writing to lock/unlock
	tab   *clientlib.Tablet // nil while locked

	sync *autoSync // the sync loop of the unlocked tablet, nil while locked
}

// New makes an app for an enrolled tablet's home. It starts locked.
func New(cfg Config) (*App, error) {
	if !clientlib.Enrolled(cfg.Home) {
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "This tablet (%s) is not enrolled yet: enroll it with a code from an admin.", cfg.Home)
	}
	if cfg.IdleLock <= 0 {
		cfg.IdleLock = DefaultIdleLock
	}
	if cfg.PushDelay <= 0 {
		cfg.PushDelay = DefaultPushDelay
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = DefaultRetryEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Options.PIN = ""
	langs, err := languages()
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, starts: map[string]time.Time{}, langs: langs, lang: danish}, nil
}

// Listen opens the app's loopback listener: the app refuses any other address, since its pages
// hold a child's case. "127.0.0.1:0" picks a free port. Start URLs name the address from here.
func (a *App) Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, syncer.Errorf(syncer.CodeInvalid, "The app's address must be 127.0.0.1:PORT (loopback only).")
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, syncer.Errorf(syncer.CodeInvalid, "The app listens on loopback only (127.0.0.1 or ::1), not on %q: other devices must not reach it.", host)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	a.mu.Lock()
	a.addr = ln.Addr().String()
	a.mu.Unlock()
	return ln, nil
}

// Serve serves the pages on ln (from Listen) until ctx ends, then locks the tablet and returns.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	a.mu.Lock()
	a.addr = ln.Addr().String()
	a.mu.Unlock()
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	idle := time.NewTicker(min(a.cfg.IdleLock/4, 10*time.Second))
	defer idle.Stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	for {
		select {
		case err := <-done:
			a.Lock()
			return err
		case <-idle.C:
			a.lockIfIdle()
		case <-ctx.Done():
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := srv.Shutdown(shut)
			cancel()
			a.Lock()
			if err != nil {
				return err
			}
			return nil
		}
	}
}

// StartURL makes a one-time URL that opens the app in a browser: opening it sets the session
// cookie (HttpOnly, SameSite=Strict) and spends the secret. Every call makes a new one, so a
// native shell asks for one each time it opens its WebView. Opening one asks for the PIN again.
func (a *App) StartURL() string {
	secret := randomToken()
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	for s, at := range a.starts {
		if now.Sub(at) > startValidity {
			delete(a.starts, s)
		}
	}
	a.starts[secret] = now
	return "http://" + a.addr + "/start?k=" + secret
}

// startValidity is how long a start URL can be opened.
const startValidity = 10 * time.Minute

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on the platforms Go supports
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionCookie is the name of the app's session cookie.
const sessionCookie = "samvaer_app"

// Lock closes the tablet: the data key is forgotten and the sync loop stops. The next page asks
// for the PIN.
func (a *App) Lock() {
	a.mu.Lock()
	as := a.sync
	a.sync = nil
	a.mu.Unlock()
	if as != nil {
		as.stop()
	}
	a.tabMu.Lock()
	defer a.tabMu.Unlock()
	if a.tab != nil {
		a.tab.Close()
		a.tab = nil
		a.cfg.Logger.Info().Msg("app locked")
	}
}

// Locked reports whether the tablet is locked.
func (a *App) Locked() bool {
	a.tabMu.RLock()
	defer a.tabMu.RUnlock()
	return a.tab == nil
}

func (a *App) lockIfIdle() {
	a.mu.Lock()
	idle := a.cfg.Now().Sub(a.lastUse) > a.cfg.IdleLock
	a.mu.Unlock()
	if idle && !a.Locked() {
		a.Lock()
		a.mu.Lock()
		a.idled = true
		a.mu.Unlock()
	}
}

// unlock opens the tablet with a PIN given on the page; a wrong PIN counts as everywhere else
// (clientlib.Open counts it and destroys the data key past the limit).
func (a *App) unlock(pin string) error {
	a.tabMu.Lock()
	if a.tab != nil {
		a.tabMu.Unlock()
		return nil
	}
	opts := a.cfg.Options
	opts.PIN = pin
	tab, err := clientlib.Open(a.cfg.Home, opts)
	if err != nil {
		a.tabMu.Unlock()
		return err
	}
	a.tab = tab
	a.tabMu.Unlock()
	a.mu.Lock()
	a.lastUse, a.idled = a.cfg.Now(), false
	a.sync = startAutoSync(a, tab)
	a.mu.Unlock()
	a.cfg.Logger.Info().Msg("app unlocked")
	return nil
}

// withTablet runs f with the open tablet, which is not closed while f runs. errLocked when the
// tablet is locked.
func (a *App) withTablet(f func(*clientlib.Tablet) error) error {
	a.tabMu.RLock()
	defer a.tabMu.RUnlock()
	if a.tab == nil {
		return errLocked
	}
	return f(a.tab)
}

var errLocked = errors.New("the tablet is locked")

// wroteSomething tells the sync loop that a change waits to be pushed.
func (a *App) wroteSomething() {
	a.mu.Lock()
	as := a.sync
	a.mu.Unlock()
	if as != nil {
		as.poke()
	}
}

// Handler is the app's HTTP handler with its guards: the Host must be the app's own loopback
// address (no DNS rebinding), every page needs the session cookie, every POST its CSRF token,
// and every response carries the strict CSP.
func (a *App) Handler() http.Handler {
	mux := a.routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		a.guard(rec, r, mux)
		a.cfg.Logger.Info().Str("method", r.Method).Str("path", r.URL.Path).Int("status", rec.status).
			Dur("duration", time.Since(start)).Msg("request")
	})
}

// csp allows only the app's own script and style, and no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (a *App) guard(w http.ResponseWriter, r *http.Request, next http.Handler) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	a.mu.Lock()
	addr, session, csrf, lang := a.addr, a.session, a.csrf, a.langs[a.lang]
	a.mu.Unlock()
	if !a.ownHost(r.Host, addr) {
		http.Error(w, "Forkert adresse.", http.StatusMisdirectedRequest)
		return
	}
	if r.URL.Path == "/start" || strings.HasPrefix(r.URL.Path, "/static/") {
		next.ServeHTTP(w, r)
		return
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || session == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(session)) != 1 {
		a.plainPage(w, http.StatusForbidden, lang, "start.needed")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
			a.plainPage(w, http.StatusForbidden, lang, "err.csrf")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		token := r.Header.Get("X-CSRF-Token")
		if token == "" {
			token = r.PostFormValue("csrf")
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(csrf)) != 1 {
			a.plainPage(w, http.StatusForbidden, lang, "err.csrf")
			return
		}
	}
	a.lockIfIdle()
	next.ServeHTTP(w, r)
}

// maxFormBytes bounds a form: a report section is at most syncer's field limit, plus the rest.
const maxFormBytes = 1 << 20

// ownHost accepts the Host a browser sends for the app's own address: its loopback IP or
// localhost with its port.
func (a *App) ownHost(host, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return host == addr || host == "localhost:"+port || host == "127.0.0.1:"+port || host == "[::1]:"+port
}

// touch records that a person used the app (the idle lock counts from here).
func (a *App) touch() {
	a.mu.Lock()
	a.lastUse = a.cfg.Now()
	a.mu.Unlock()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
