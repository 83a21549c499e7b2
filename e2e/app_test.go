package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/clientlib/app"
	"github.com/samvaer/sync/syncer"
)

// appClock is the app's injected clock for the idle lock.
type appClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *appClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *appClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// runningApp is the consultant's app served in the test process on a loopback port.
type runningApp struct {
	*app.App
	base string
	logs *syncBuffer
}

// startApp serves the app for an enrolled tablet's home (the tablet itself is closed first: the
// app opens it when the PIN is given on the page).
func startApp(t testing.TB, tb *tablet, cfg app.Config) *runningApp {
	t.Helper()
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg.Home, cfg.Options, cfg.Logger = tb.home, tb.opts, zerolog.New(logs)
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := a.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app: %v", err)
		}
	})
	return &runningApp{App: a, base: "http://" + ln.Addr().String(), logs: logs}
}

// appBrowser is a plain HTTP client with the app's cookie, that does not follow redirects.
type appBrowser struct {
	t    testing.TB
	c    *http.Client
	base string
}

func newAppBrowser(t testing.TB, base string) *appBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &appBrowser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *appBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func (b *appBrowser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

func (b *appBrowser) post(path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// csrfOf reads the CSRF token from a page's forms.
func csrfOf(t testing.TB, page string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

func wantStatus(t *testing.T, res *http.Response, want int, what string) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", what, res.StatusCode, want)
	}
}

// The app's pages are reachable only through the one-time start URL, with the session cookie
// (HttpOnly, SameSite=Strict), on the app's own loopback address, with a CSRF token on every
// form and a strict CSP; the PIN is asked on the page, a wrong one counts like everywhere else,
// and the app locks itself when idle.
func TestAppGuardsItsPagesAndAsksForThePIN(t *testing.T) {
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	if _, err := tb.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock := &appClock{now: time.Now()}
	a := startApp(t, tb, app.Config{IdleLock: 5 * time.Minute, Now: clock.Now})
	b := newAppBrowser(t, a.base)

	if _, err := a.Listen("0.0.0.0:0"); err == nil {
		t.Fatal("the app listened on every interface")
	}
	res, _ := b.get("/")
	wantStatus(t, res, http.StatusForbidden, "a page without the session cookie")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	res, _ = b.get("/start?k=guessed")
	wantStatus(t, res, http.StatusForbidden, "a guessed start secret")

	start, err := url.Parse(a.StartURL())
	if err != nil {
		t.Fatal(err)
	}
	res, _ = b.get(start.RequestURI())
	wantStatus(t, res, http.StatusSeeOther, "the start URL")
	cookie := res.Header.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("session cookie %q", cookie)
	}
	other := newAppBrowser(t, a.base)
	res, _ = other.get(start.RequestURI())
	wantStatus(t, res, http.StatusForbidden, "the start URL used a second time")

	req, _ := http.NewRequest(http.MethodGet, a.base+"/", nil)
	req.Host = "evil.example:80" // a page elsewhere that rebinds its name to 127.0.0.1
	res, _ = b.do(req)
	wantStatus(t, res, http.StatusMisdirectedRequest, "another Host")

	res, page := b.get("/")
	wantStatus(t, res, http.StatusOK, "the unlock page")
	if !strings.Contains(page, "Lås tabletten op") || !strings.Contains(page, `type="password"`) {
		t.Fatalf("not the Danish PIN page:\n%s", page)
	}
	csrf := csrfOf(t, page)

	res, _ = b.post("/unlock", url.Values{"pin": {testPIN}})
	wantStatus(t, res, http.StatusForbidden, "unlock without the CSRF token")
	res, page = b.post("/unlock", url.Values{"pin": {"0000"}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusUnauthorized, "a wrong PIN")
	if !strings.Contains(page, "Forkert PIN-kode") {
		t.Fatalf("no Danish wrong-PIN message:\n%s", page)
	}
	res, _ = b.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}, "next": {"//evil.example/"}})
	wantStatus(t, res, http.StatusSeeOther, "the right PIN")
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Fatalf("after unlocking went to %q", loc)
	}

	res, page = b.get("/")
	wantStatus(t, res, http.StatusOK, "today's visits")
	if !strings.Contains(page, "Ida") || !strings.Contains(page, "/visits/"+w.visitID) || !strings.Contains(page, "I dag") {
		t.Fatalf("today's visit with the child's name missing:\n%s", page)
	}
	res, _ = b.post("/visits/"+w.visitID+"/observations", url.Values{"text": {"Ida laughs."}, "csrf": {csrf}}, "Sec-Fetch-Site", "cross-site")
	wantStatus(t, res, http.StatusForbidden, "a cross-site form with a stolen token")
	res, _ = b.post("/visits/"+w.visitID+"/observations", url.Values{"text": {"Ida laughs."}, "csrf": {"forged"}})
	wantStatus(t, res, http.StatusForbidden, "a forged CSRF token")
	res, _ = b.post("/visits/"+w.visitID+"/observations", url.Values{"text": {"Ida laughs."}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "an observation")

	clock.Add(6 * time.Minute)
	res, page = b.get("/")
	wantStatus(t, res, http.StatusOK, "the page after idling")
	if !a.Locked() || !strings.Contains(page, "låste sig selv") {
		t.Fatalf("the app did not lock itself after idling (locked %v):\n%s", a.Locked(), page)
	}
	res, _ = b.post("/visits/"+w.visitID+"/observations", url.Values{"text": {"Written while locked."}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusUnauthorized, "an observation while locked")
	res, _ = b.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "unlocking again")

	a.Lock()
	tb.Tablet, err = clientlib.Open(tb.home, tb.opts)
	if err != nil {
		t.Fatal(err)
	}
	// The wrong PIN given on the page is counted once: recorded on the tablet, or already in the
	// server's audit log when the app's own sync (running while the test went on) reported it —
	// or both, until the tablet forgets what it reported at its next report.
	failed, err := tb.FailedUnlocks(context.Background())
	mustDo(t, err)
	counted := map[string]bool{}
	for _, f := range failed {
		counted[strconv.FormatInt(f.AtMs, 10)] = true
	}
	for _, e := range pinAudit(t, w.srv.Store()) {
		if e.DeviceID != tb.DeviceID() {
			t.Fatalf("a wrong PIN audited for another device: %+v", e)
		}
		counted[e.Detail["tablet_at_ms"]] = true
	}
	if len(counted) != 1 {
		t.Fatalf("wrong PINs counted (on the tablet %v, in the audit log): %v; want the one given on the page", failed, counted)
	}
	v, err := tb.Visit(context.Background(), w.visitID)
	if err != nil || len(v.Observations) != 1 || v.Observations[0].Text != "Ida laughs." {
		t.Fatalf("observations %+v, %v", v.Observations, err)
	}
}

// The sync bar warns a day before the tablet locks itself for lack of contact (3 days), and the
// pages switch to English and back on request.
func TestAppWarnsBeforeTheThreeDayLockAndSpeaksEnglish(t *testing.T) {
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	if _, err := tb.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := tb.Status(context.Background()) // the app takes the tablet over
	if err != nil {
		t.Fatal(err)
	}
	w.srv.shutdown()
	clock := &appClock{now: time.Now()}
	a := startApp(t, tb, app.Config{IdleLock: 1000 * time.Hour, Now: clock.Now})
	b := newAppBrowser(t, a.base)
	start, err := url.Parse(a.StartURL())
	if err != nil {
		t.Fatal(err)
	}
	b.get(start.RequestURI())
	_, page := b.get("/")
	csrf := csrfOf(t, page)
	res, _ := b.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "unlock")
	if _, page = b.get("/"); strings.Contains(page, `id="lockwarn"`) {
		t.Fatal("a warning right after a sync")
	}
	// Less than a day before the lock, and on the day before it where she is: a moment just
	// before the lock day's midnight in Copenhagen (49 hours after a sync at 23.30 would be on
	// the lock's own day, and the warning rightly says "i dag").
	zone, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	lockAt := time.UnixMilli(st.LastSyncMs).Add(clientlib.DefaultLockAfter).In(zone)
	lockDay := time.Date(lockAt.Year(), lockAt.Month(), lockAt.Day(), 0, 0, 0, 0, zone)
	clock.Add(lockDay.Add(-min(time.Minute, (24*time.Hour-lockAt.Sub(lockDay))/2)).Sub(clock.Now()))
	if _, page = b.get("/"); !strings.Contains(page, `id="lockwarn"`) || !strings.Contains(page, "Tabletten låser sig selv i morgen kl.") {
		t.Fatalf("no Danish warning the evening before the lock (%s, %s after the last sync):\n%s", clock.Now().In(zone), clock.Now().Sub(time.UnixMilli(st.LastSyncMs)), page)
	}
	res, _ = b.post("/lang", url.Values{"csrf": {csrf}, "back": {"/visits/" + w.visitID}})
	wantStatus(t, res, http.StatusSeeOther, "English")
	if loc := res.Header.Get("Location"); loc != "/visits/"+w.visitID {
		t.Fatalf("after choosing English went to %q", loc)
	}
	_, page = b.get("/visits/" + w.visitID)
	for _, want := range []string{`lang="en"`, "Save observation", "The tablet locks itself tomorrow at", "Supervised"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the English page lacks %q", want)
		}
	}
	res, _ = b.post("/lang", url.Values{"csrf": {csrf}, "back": {"//evil.example/"}})
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Fatalf("a language form sent the browser to %q", loc)
	}
	if _, page = b.get("/"); !strings.Contains(page, "Mine samvær") || !strings.Contains(page, `lang="da"`) {
		t.Fatal("not back in Danish")
	}
}

// The observation she is typing is kept as a draft as she types, and the idle lock loses none
// of it: typing counts as use; a draft that reaches the app after the lock fell due is kept
// all the same (sealed, the app says it is locked); after the PIN the visit page holds it;
// saving the observation ends the draft. The draft is in neither the app's log nor any file of
// the tablet's home in plaintext, and it is never sent.
func TestAppKeepsTheObservationSheIsTypingThroughTheIdleLock(t *testing.T) {
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	if _, err := tb.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.srv.shutdown()
	clock := &appClock{now: time.Now()}
	a := startApp(t, tb, app.Config{IdleLock: 5 * time.Minute, Now: clock.Now})
	b := newAppBrowser(t, a.base)
	start, err := url.Parse(a.StartURL())
	mustDo(t, err)
	b.get(start.RequestURI())
	_, page := b.get("/")
	csrf := csrfOf(t, page)
	res, _ := b.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "unlock")
	visit := "/visits/" + w.visitID
	script := []string{"X-CSRF-Token", csrf, "X-Requested-With", "samvaer"}

	// She types for longer than the idle lock; each draft save counts as use.
	const typed = "DRAFTOBS Ida viser mor sin tegning"
	for i := range 4 {
		clock.Add(2 * time.Minute)
		res, body := b.post(visit+"/observations/draft", url.Values{"text": {typed[:20+i*4]}}, script...)
		wantStatus(t, res, http.StatusOK, "a draft save")
		if !strings.HasPrefix(body, "Kladde gemt") {
			t.Fatalf("the draft save says %q", body)
		}
	}
	if a.Locked() {
		t.Fatal("the app locked itself while she was typing")
	}
	// She stops; the app locks on idle. The save of what she typed last reaches it after.
	clock.Add(6 * time.Minute)
	res, _ = b.get("/status")
	if res.Header.Get("X-Locked") == "" || !a.Locked() {
		t.Fatal("the app did not lock itself when idle")
	}
	res, _ = b.post(visit+"/observations/draft", url.Values{"text": {typed}}, script...)
	wantStatus(t, res, http.StatusAccepted, "a draft save after the lock")
	if res.Header.Get("X-Locked") == "" {
		t.Fatal("the answer to a draft kept while locked does not say the app is locked")
	}
	res, _ = b.post(visit+"/observations/draft", url.Values{"text": {typed}, "csrf": {"wrong"}}, "X-Requested-With", "samvaer")
	wantStatus(t, res, http.StatusForbidden, "a locked draft save without the CSRF token")
	res, _ = b.post("/visits/"+syncer.NewID()+"/observations/draft", url.Values{"text": {typed}}, script...)
	wantStatus(t, res, http.StatusNotFound, "a draft for a visit the tablet does not hold")
	if _, page = b.get(visit); !strings.Contains(page, `id="pin"`) || strings.Contains(page, "DRAFTOBS") {
		t.Fatal("the locked app shows the visit or the draft")
	}
	res, _ = b.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}, "next": {visit}})
	wantStatus(t, res, http.StatusSeeOther, "unlock again")
	_, page = b.get(visit)
	if !strings.Contains(page, `data-draft="`+visit+`/observations/draft">`+typed+`</textarea>`) {
		t.Fatalf("after the PIN the observation field does not hold what she typed:\n%s", page)
	}

	res, _ = b.post(visit+"/observations", url.Values{"text": {typed}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "save the observation")
	_, page = b.get(visit)
	if !strings.Contains(page, `data-draft="`+visit+`/observations/draft"></textarea>`) || strings.Count(page, typed) != 1 {
		t.Fatalf("after saving, the field is not empty or the timeline does not hold the observation once:\n%s", page)
	}
	if strings.Contains(a.logs.String(), "DRAFTOBS") {
		t.Fatal("the app's log holds the draft")
	}
	if got := filesHolding(t, tb.home, "DRAFTOBS"); len(got) > 0 {
		t.Fatalf("the draft in plaintext in %v", got)
	}
}
