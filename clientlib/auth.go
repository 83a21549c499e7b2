package clientlib

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

// Enrollment and access tokens. The tablet's Ed25519 private key is made here, kept in
// home/device.key (0600, sealed with the data key) and never sent anywhere; the server holds the
// public key and gives short-lived access tokens for requests signed with the private key.

// tokenMarginMs is how long before its expiry a cached access token is replaced, so a token
// never expires in the middle of a sync.
const tokenMarginMs = 30_000

// Enroll enrolls a tablet with a one-time code an admin issued: it makes the device key pair,
// registers the public key with the server and sets up the tablet's home directory with a new
// data key protected by opts.PIN and the platform's key. It refuses a home that is already
// enrolled, unless its data key was destroyed (too many wrong PINs): that home is cleared.
func Enroll(ctx context.Context, home, serverURL, code, deviceName string, opts Options) (*Tablet, error) {
	if enrolled(home) {
		if _, err := os.Stat(filepath.Join(home, dataKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "This tablet is already enrolled; its data must be wiped before it can be enrolled again.")
		}
		// Nothing in it can be read any more.
		if err := wipeHome(home); err != nil {
			return nil, err
		}
	}
	if err := ValidatePIN(opts.PIN); err != nil {
		return nil, err
	}
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, syncer.Errorf(syncer.CodeInvalid, "The server address must be a URL such as https://samvaer.example.dk.")
	}
	serverURL = strings.TrimRight(serverURL, "/")
	if strings.TrimSpace(code) == "" {
		return nil, syncer.Errorf(syncer.CodeInvalid, "Enrolling needs the one-time code an admin gave you.")
	}
	opts = opts.forHome(home)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make device key: %w", err)
	}
	auth, _ := newClients(opts.HTTPClient, serverURL)
	req := &v1.EnrollRequest{Code: strings.TrimSpace(code), PublicKey: pub, DeviceName: deviceName}
	res, err := auth.Enroll(ctx, connect.NewRequest(req))
	if err != nil && (connect.CodeOf(err) == connect.CodeUnavailable || connectionLost(err)) {
		// The answer may be lost after the server used the code: the same code with the same
		// key is answered again with the same device.
		res, err = auth.Enroll(ctx, connect.NewRequest(req))
	}
	if err != nil {
		return nil, wireError("enroll", err)
	}
	if !syncer.ValidID(res.Msg.DeviceId) || res.Msg.UserId == "" {
		return nil, syncer.Errorf(syncer.CodeInternal, "The server's answer to the enrollment was incomplete; ask an admin for a new code.")
	}
	var offsetMs int64
	if res.Msg.ServerTimeMs > 0 {
		offsetMs = res.Msg.ServerTimeMs - opts.Now().UnixMilli()
	}
	s, dataKey, err := createHome(ctx, home, serverURL, priv, res.Msg, offsetMs, opts)
	if err != nil {
		return nil, err
	}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return setMeta(ctx, tx, metaLastContact, itoa(opts.Now().UnixMilli()+offsetMs))
	})
	if err != nil {
		s.close()
		return nil, err
	}
	t, err := load(home, s, opts, dataKey)
	if err != nil {
		s.close()
		return nil, err
	}
	return t, nil
}

// createHome sets up an enrolled tablet's home: the directory (0700), a new data key wrapped
// by the PIN and the platform key, the database with the device's identity and a fresh sync
// state, and last the device key (0600, sealed), whose presence marks the home as enrolled. opts
// are complete (forHome). Tests use it to make a tablet without a server.
func createHome(ctx context.Context, home, serverURL string, key ed25519.PrivateKey, enrollment *v1.EnrollResponse, offsetMs int64, opts Options) (*store, []byte, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, nil, fmt.Errorf("make tablet home: %w", err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		return nil, nil, fmt.Errorf("protect tablet home: %w", err)
	}
	// A new platform key for every enrollment: nothing wrapped by an earlier one opens, and the
	// count of PIN attempts starts at zero.
	if err := opts.KeyProvider.Destroy(); err != nil {
		return nil, nil, fmt.Errorf("destroy the earlier platform key: %w", err)
	}
	dataKey, err := seal.RandomKey()
	if err != nil {
		return nil, nil, err
	}
	if err := wrapDataKey(home, opts.KeyProvider, opts.PIN, opts.KDF, dataKey); err != nil {
		return nil, nil, err
	}
	s, err := openStore(home)
	if err != nil {
		return nil, nil, err
	}
	if err := s.useKey(dataKey); err != nil {
		s.close()
		return nil, nil, err
	}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return setMeta(ctx, tx,
			metaDevice, enrollment.DeviceId,
			metaUser, enrollment.UserId,
			metaUserName, enrollment.UserName,
			metaServer, serverURL,
			metaCursor, "0",
			metaNextSeq, "1",
			metaHLC, "0",
			metaClockOffset, itoa(offsetMs),
			metaLastSync, "0",
		)
	})
	if err == nil {
		var sealed []byte
		if sealed, err = s.keys.Seal(key.Seed(), deviceKeyAD); err == nil {
			err = writeFileAtomic(filepath.Join(home, keyFile), sealed)
		}
	}
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return s, dataKey, nil
}

// AccessToken returns a valid access token, from the cache while it lasts, otherwise by a token
// request signed with the device key.
func (t *Tablet) AccessToken(ctx context.Context) (string, error) {
	t.mu.Lock()
	tok, exp, wiped := t.token, t.tokenExp, t.wiped
	t.mu.Unlock()
	if wiped {
		return "", ErrWiped
	}
	if tok != "" && t.nowMs() < exp-tokenMarginMs {
		return tok, nil
	}
	res, err := t.requestToken(ctx)
	if err != nil && t.correctClockFrom(err) {
		res, err = t.requestToken(ctx)
	}
	if w := wipeInstruction(err); w != nil {
		return "", w
	}
	if err != nil {
		return "", wireError("get access token", err)
	}
	t.observeServerTime(res.ServerTimeMs)
	if res.AccessToken == "" {
		return "", syncer.Errorf(syncer.CodeInternal, "The server sent an empty access token.")
	}
	t.mu.Lock()
	t.token, t.tokenExp = res.AccessToken, res.ExpiresMs
	t.mu.Unlock()
	return res.AccessToken, nil
}

// SignTokenRequest signs a token request's payload with the device key (which never leaves the
// tablet).
func (t *Tablet) SignTokenRequest(nonce string, timeMs int64) []byte {
	return ed25519.Sign(t.key, syncer.TokenSigningPayload(t.device, nonce, timeMs))
}

func (t *Tablet) requestToken(ctx context.Context) (*v1.TokenResponse, error) {
	now, nonce := t.nowMs(), syncer.NewID()
	res, err := t.auth.Token(ctx, connect.NewRequest(&v1.TokenRequest{
		DeviceId:  t.device,
		Nonce:     nonce,
		TimeMs:    now,
		Signature: t.SignTokenRequest(nonce, now),
	}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// correctClockFrom learns the server's time from the Date header of a refused token request
// when the tablet's clock is far off it: the server refuses requests timed outside a window, and
// a refusal carries no server_time_ms. It reports whether the clock was corrected.
func (t *Tablet) correctClockFrom(err error) bool {
	var ce *connect.Error
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !errors.As(err, &ce) {
		return false
	}
	date, perr := http.ParseTime(ce.Meta().Get("Date"))
	if perr != nil || date.IsZero() {
		return false
	}
	if d := date.UnixMilli() - t.nowMs(); d > -clockSlackMs && d < clockSlackMs {
		return false // the clock was not the problem
	}
	t.observeServerTime(date.UnixMilli())
	return true
}

// clockSlackMs is how far the tablet's corrected clock may be from a server's Date header (which
// has whole seconds) before it is corrected by it.
const clockSlackMs = 60_000

// forgetToken drops the cached token after the server refused it.
func (t *Tablet) forgetToken() {
	t.mu.Lock()
	t.token, t.tokenExp = "", 0
	t.mu.Unlock()
}
