package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server/web"
)

// Browser tests drive Debian's Chromium (apt-get install chromium; .ci/run installs it) headless
// through chromedp, with the flags this closed network needs and a fresh profile each time.

// newBrowser starts a headless Chromium for one test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("browser tests need Chromium: apt-get install chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("accept-lang", "da-DK,da"), // a Danish municipality's browser
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900), // a laptop screen
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser and binds it to ctx, which has no timeout; each test step
	// runs under its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step runs browser actions with a time limit.
func step(t *testing.T, b context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// text reads the text of the first element a CSS selector finds.
func text(t *testing.T, b context.Context, css string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("read %s: %v", css, err)
	}
	return s
}

// withSession puts a session for the user in the browser, as signing in does.
func withSession(t *testing.T, s *liveServer, userName string) chromedp.Action[chromedp.Void] {
	t.Helper()
	u, err := s.Store().UserByName(context.Background(), userName)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := s.Store().NewSession(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		httpOnly := true
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: web.SessionCookie, Value: token, URL: s.URL(), HTTPOnly: &httpOnly})
		return err
	})
}

// screenshot saves the page for a person to look at, in a directory kept after the test.
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100 gives a PNG
		if err != nil {
			return err
		}
		dir := filepath.Join(os.TempDir(), "samvaer-screenshots")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		path := filepath.Join(dir, name+".png")
		t.Logf("screenshot: %s", path)
		return os.WriteFile(path, png, 0o600)
	})
}

// An admin issues an enrollment code in the browser; a tablet enrolls with it and the device
// list then shows the tablet for its user.
func TestBrowserAdminEnrollsATablet(t *testing.T) {
	w := newWorld(t, "Kim")
	ctx := context.Background()
	if _, err := w.srv.Store().AddUser(ctx, "Ada", []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	step(t, b,
		withSession(t, w.srv, "Ada"),
		chromedp.Navigate(w.srv.URL()+"/admin/devices"),
		chromedp.SetValue(chromedp.CSS(`select[name="user"]`), "Kim"),
		chromedp.Click(chromedp.Search(`//button[text()="Udsted en engangskode"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	notice := text(t, b, "p.notice")
	m := regexp.MustCompile(`Engangskode ([A-Z2-7]{16})`).FindStringSubmatch(notice)
	if m == nil {
		t.Fatalf("no code on the page: %q", notice)
	}
	tb, err := clientlib.Enroll(ctx, t.TempDir(), w.srv.URL(), m[1], "iPad 3, Team Nord", clientlib.Options{PIN: testPIN, KDF: testKDF})
	if err != nil {
		t.Fatalf("enroll with the code from the page: %v", err)
	}
	defer tb.Close()
	step(t, b, chromedp.Navigate(w.srv.URL()+"/admin/devices"), screenshot(t, "admin-devices"))
	table := text(t, b, "table")
	if !strings.Contains(table, tb.DeviceID()) || !strings.Contains(table, "iPad 3, Team Nord") || !strings.Contains(table, "Kim") {
		t.Fatalf("the device list does not show the new tablet: %q", table)
	}
}
