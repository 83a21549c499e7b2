// Package mobile is the gomobile-bindable facade over clientlib and clientlib/app: an Android or
// iOS shell starts the consultant's app in its own process, shows it in a WebView, and plugs its
// Keystore or Keychain in as the key store that wraps the tablet's data key.
//
// Only bindable types cross it (gobind checks it in CI, and TestFacadeIsBindable here): strings,
// []byte, bool, int64 milliseconds instead of durations and contexts, errors, callback
// interfaces the shell implements, and pointers to this package's own structs.
//
// It imports clientlib and clientlib/app; never server/.
package mobile

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/clientlib/app"
)

// KeyStore is the platform's key store, implemented by the shell (Android Keystore, iOS
// Keychain). Its methods are clientlib.KeyProvider's, with the same contract: Wrap makes the key
// when there is none; Unwrap fails for bytes Wrap did not make and for everything after Destroy;
// CountUnlockAttempt counts an attempt durably and atomically before the PIN is checked and
// returns the new count; ResetUnlockAttempts sets it to zero after a right PIN; Destroy deletes
// the key and its count for good.
type KeyStore interface {
	Wrap(plaintext []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
	CountUnlockAttempt() (int64, error)
	ResetUnlockAttempts() error
	Destroy() error
}

// Logger receives the app's log lines (JSON, one per call). They never hold what a person wrote.
type Logger interface {
	Log(line string)
}

// logWriter hands zerolog's lines to the shell's Logger.
type logWriter struct{ l Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Log(string(p))
	return len(p), nil
}

// Enrolled reports whether home holds an enrolled tablet.
func Enrolled(home string) bool { return clientlib.Enrolled(home) }

// Enroll enrolls the tablet in home with a one-time code from an admin and sets its PIN, which
// the shell asked for on its own screen. The data key is wrapped by keys.
func Enroll(home, serverURL, code, deviceName, pin string, keys KeyStore) error {
	opts := options(keys)
	opts.PIN = pin
	t, err := clientlib.Enroll(context.Background(), home, serverURL, code, deviceName, opts)
	if err != nil {
		return err
	}
	return t.Close()
}

func options(keys KeyStore) clientlib.Options {
	return clientlib.Options{KeyProvider: keys, HTTPClient: &http.Client{Timeout: 2 * time.Minute}}
}

// App is the consultant's app serving on loopback.
type App struct {
	app    *app.App
	cancel context.CancelFunc
	done   chan error
}

// Start serves the app for the enrolled tablet in home on a free loopback port. It starts
// locked; the PIN is asked on the page. idleLockMs is how long it stays unlocked without use (0:
// the default, 5 minutes). logger may be nil.
func Start(home string, keys KeyStore, idleLockMs int64, logger Logger) (*App, error) {
	cfg := app.Config{Home: home, Options: options(keys), IdleLock: time.Duration(idleLockMs) * time.Millisecond, Logger: zerolog.Nop()}
	if logger != nil {
		cfg.Logger = zerolog.New(logWriter{logger}).With().Timestamp().Logger()
	}
	a, err := app.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := a.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &App{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- a.Serve(ctx, ln) }()
	return m, nil
}

// StartURL is a new one-time URL for the WebView: opening it sets the session cookie and asks
// for the PIN. Ask for a new one each time the WebView opens.
func (m *App) StartURL() string { return m.app.StartURL() }

// Lock locks the app now (the shell calls it when it goes to the background): the data key is
// forgotten until the PIN is given again.
func (m *App) Lock() { m.app.Lock() }

// Locked reports whether the app is locked.
func (m *App) Locked() bool { return m.app.Locked() }

// Stop stops serving and locks the tablet.
func (m *App) Stop() error {
	m.cancel()
	return <-m.done
}
