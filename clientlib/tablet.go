package clientlib

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/internal/wirezip"
	"github.com/samvaer/sync/syncer"
)

// Options tune a tablet. The zero value is ready to use.
type Options struct {
	// HTTPClient talks to the server; nil means a client with timeouts. Tests inject transports
	// that lose responses.
	HTTPClient *http.Client
	// Now is the tablet's physical clock; nil means time.Now. The tablet corrects it by the
	// server's time in every response.
	Now func() time.Time
	// PageChanges and PageBytes bound each pulled page (defaults 4000 changes, 1 MiB); the server
	// may cap them lower.
	PageChanges int
	PageBytes   int64
	// PushBatch is the most changes sent in one push (default 500).
	PushBatch int
	// PurgeAcknowledgedAfter is how long a report stays on the tablet after the caseworker
	// acknowledged it (0: gone at the next sync); PurgeSubmittedAfter how long after it was
	// submitted if nobody acknowledges it (default DefaultPurgeSubmittedAfter).
	PurgeAcknowledgedAfter, PurgeSubmittedAfter time.Duration
	// LockAfter is how long the tablet may go without a successful sync before it locks itself
	// (default 3 days). A locked tablet refuses to show or change data until a sync succeeds.
	LockAfter time.Duration
	// KeepAcknowledged is how long the tablet keeps a change after a pull confirmed it, so a
	// server restored from a backup up to that old gets it back (default
	// DefaultKeepAcknowledged). A backup older than that loses what the tablets no longer keep.
	KeepAcknowledged time.Duration

	// PIN unlocks the tablet's data key (keys.go); Enroll sets it. At least MinPINLength
	// characters.
	PIN string
	// KeyProvider is the platform's key store that wraps the data key a second time; nil means
	// FileKeyProvider with a key file in the tablet's home.
	KeyProvider KeyProvider
	// MaxPINAttempts is how many wrong PINs in a row destroy the data key (default 5).
	MaxPINAttempts int
	// KDF are the Argon2id parameters for a PIN set by Enroll or ChangePIN (zero: DefaultKDF).
	KDF KDFParams
}

// DefaultLockAfter is how long a tablet may go without reaching the server before it locks.
const DefaultLockAfter = 72 * time.Hour

func (o Options) withDefaults() Options {
	if o.HTTPClient == nil {
		// http.DefaultTransport bounds dialling and the TLS handshake; the timeout bounds a
		// whole exchange, so a dead network never hangs a sync.
		o.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PageChanges <= 0 || o.PageChanges > maxPageChanges {
		o.PageChanges = 4000
	}
	if o.PageBytes <= 0 || o.PageBytes > maxResponseBytes/2 {
		o.PageBytes = 1 << 20
	}
	if o.PurgeSubmittedAfter <= 0 {
		o.PurgeSubmittedAfter = DefaultPurgeSubmittedAfter
	}
	if o.PushBatch <= 0 || o.PushBatch > syncer.MaxChangesPerPush {
		o.PushBatch = 500
	}
	if o.LockAfter <= 0 {
		o.LockAfter = DefaultLockAfter
	}
	if o.KeepAcknowledged <= 0 {
		o.KeepAcknowledged = DefaultKeepAcknowledged
	}
	if o.MaxPINAttempts <= 0 {
		o.MaxPINAttempts = DefaultMaxPINAttempts
	}
	if o.KDF == (KDFParams{}) {
		o.KDF = DefaultKDF
	}
	return o
}

// forHome completes the options with what depends on the tablet's home.
func (o Options) forHome(home string) Options {
	o = o.withDefaults()
	if o.KeyProvider == nil {
		o.KeyProvider = FileKeyProvider{Path: filepath.Join(home, platformKeyFile)}
	}
	return o
}

// Tablet is an enrolled tablet: its local store and its connection to the server. Its methods
// are safe for concurrent use; syncs run one at a time.
type Tablet struct {
	opts    Options
	home    string
	dataKey []byte // seals what the store holds; ChangePIN wraps it again
	store   *store
	key     ed25519.PrivateKey
	device  string
	user    string
	clock   *syncer.Clock
	// draftPublic and draftKey are the draft key pair (drafts.go).
	draftPublic, draftKey *[32]byte

	auth      samvaerv1connect.AuthServiceClient
	syncRPC   samvaerv1connect.SyncServiceClient
	reportRPC samvaerv1connect.ReportServiceClient
	deviceRPC samvaerv1connect.DeviceServiceClient
	syncMu    sync.Mutex // one sync at a time
	mu        sync.Mutex // guards the fields below
	offsetMs  int64      // server clock minus the tablet's clock
	token     string
	tokenExp  int64 // the token's expiry, server time in Unix ms
	contactMs int64 // the last successful sync, corrected clock in Unix ms (0: never)
	wiped     bool
}

// Open opens an enrolled tablet's home directory with its PIN (opts.PIN). A wrong PIN counts;
// past opts.MaxPINAttempts wrong PINs in a row the data key is destroyed.
func Open(home string, opts Options) (*Tablet, error) {
	if !enrolled(home) {
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "This tablet is not enrolled yet: enroll it with a code from an admin.")
	}
	if _, err := os.Stat(filepath.Join(home, dataKeyFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, errKeyDestroyed
	}
	opts = opts.forHome(home)
	s, err := openStore(home)
	if err != nil {
		return nil, err
	}
	dataKey, err := unlock(context.Background(), home, s, opts)
	if err == nil {
		err = s.useKey(dataKey)
	}
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

// Enrolled reports whether home holds an enrolled tablet (a command asks for the PIN only then).
func Enrolled(home string) bool { return enrolled(home) }

// enrolled reports whether home holds a device key, the last thing enrollment writes.
func enrolled(home string) bool {
	_, err := os.Stat(filepath.Join(home, keyFile))
	return !errors.Is(err, fs.ErrNotExist)
}

// load reads the device key and the sync state of an opened and unlocked store.
func load(home string, s *store, opts Options, dataKey []byte) (*Tablet, error) {
	sealed, err := os.ReadFile(filepath.Join(home, keyFile))
	if err != nil {
		return nil, fmt.Errorf("read device key: %w", err)
	}
	seed, err := s.keys.Open(sealed, deviceKeyAD)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The tablet's device key is damaged; the tablet must be wiped and enrolled again.")
	}
	meta, err := readMeta(context.Background(), s.db.Read)
	if err != nil {
		return nil, err
	}
	if meta[metaDevice] == "" || meta[metaServer] == "" {
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "This tablet's enrollment did not finish; enroll it again.")
	}
	t := &Tablet{
		opts:    opts.forHome(home),
		home:    home,
		dataKey: dataKey,
		store:   s,
		key:     ed25519.NewKeyFromSeed(seed),
		device:  meta[metaDevice],
		user:    meta[metaUser],
	}
	t.opts.PIN = "" // unlocked: the PIN is not needed (nor kept) any more
	if t.draftPublic, t.draftKey, err = s.draftKeys(context.Background()); err != nil {
		return nil, err
	}
	t.offsetMs, _ = strconv.ParseInt(meta[metaClockOffset], 10, 64)
	t.contactMs, _ = strconv.ParseInt(meta[metaLastContact], 10, 64)
	if t.contactMs == 0 {
		t.contactMs, _ = strconv.ParseInt(meta[metaLastSync], 10, 64)
	}
	last, _ := strconv.ParseUint(meta[metaHLC], 10, 64)
	t.clock = syncer.NewClock(t.nowMs, syncer.HLC(last))
	t.auth, t.syncRPC = newClients(t.opts.HTTPClient, meta[metaServer])
	t.reportRPC = samvaerv1connect.NewReportServiceClient(t.opts.HTTPClient, meta[metaServer], clientOptions...)
	t.deviceRPC = samvaerv1connect.NewDeviceServiceClient(t.opts.HTTPClient, meta[metaServer], clientOptions...)
	return t, nil
}

// maxResponseBytes bounds every response read from the server; pull pages are asked well below.
const (
	maxResponseBytes = 16 << 20
	maxPageChanges   = 100_000
)

// newClients makes the Connect clients. Requests are sent uncompressed (what they carry is mostly
// incompressible text); the server compresses large responses (internal/wirezip).
func newClients(hc *http.Client, serverURL string) (samvaerv1connect.AuthServiceClient, samvaerv1connect.SyncServiceClient) {
	return samvaerv1connect.NewAuthServiceClient(hc, serverURL, clientOptions...), samvaerv1connect.NewSyncServiceClient(hc, serverURL, clientOptions...)
}

// clientOptions are every Connect client's.
var clientOptions = []connect.ClientOption{connect.WithReadMaxBytes(maxResponseBytes), wirezip.Client()}

// Close closes the tablet's database and forgets the data key.
func (t *Tablet) Close() error {
	if t.isWiped() {
		return nil
	}
	seal.Wipe(t.dataKey)
	if t.draftKey != nil {
		seal.Wipe(t.draftKey[:])
	}
	return t.store.close()
}

// Home is the tablet's home directory.
func (t *Tablet) Home() string { return t.home }

// usable refuses access to data on a wiped tablet, and on one that has not reached the server
// for longer than Options.LockAfter (a lost tablet that is kept offline locks itself).
func (t *Tablet) usable() error {
	t.mu.Lock()
	wiped, contact := t.wiped, t.contactMs
	t.mu.Unlock()
	if wiped {
		return ErrWiped
	}
	if contact > 0 && t.nowMs()-contact > t.opts.LockAfter.Milliseconds() {
		return syncer.Errorf(syncer.CodeFailedPrecondition,
			"This tablet has not reached the server for more than %s and is locked; sync with the server to unlock it.", lockPeriod(t.opts.LockAfter))
	}
	return nil
}

// lockPeriod says a lock period as a person would.
func lockPeriod(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}

// DeviceID is the id the server gave this tablet at enrollment.
func (t *Tablet) DeviceID() string { return t.device }

// UserID is the id of the person the tablet is enrolled for.
func (t *Tablet) UserID() string { return t.user }

// nowMs is the corrected clock: the tablet's clock plus the offset learnt from the server.
func (t *Tablet) nowMs() int64 {
	t.mu.Lock()
	off := t.offsetMs
	t.mu.Unlock()
	return t.opts.Now().UnixMilli() + off
}

// observeServerTime corrects the tablet's clock by the server time a response carries.
func (t *Tablet) observeServerTime(serverMs int64) {
	if serverMs <= 0 {
		return
	}
	off := serverMs - t.opts.Now().UnixMilli()
	t.mu.Lock()
	t.offsetMs = off
	t.mu.Unlock()
}

func (t *Tablet) clockOffset() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offsetMs
}
