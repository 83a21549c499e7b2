package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// diskServer is `samvaer serve` as a child process whose data directory is a small tmpfs of
// its own (a private mount namespace made by unshare), so its disk can really fill up: writes
// fail with ENOSPC as on a full production disk. A shell in the namespace restarts the server
// whenever it dies, so a test can SIGKILL it and the tmpfs survives.
type diskServer struct {
	t     *testing.T
	sh    *exec.Cmd
	mnt   string // the tmpfs mount point, as the namespace sees it
	addr  string
	logs  *syncBuffer
	bin   string
	store string // the data directory as this process reaches it: /proc/<sh>/root/<mnt>
}

func startDiskServer(t *testing.T, bin, prepared string, size string) *diskServer {
	t.Helper()
	if out, err := exec.Command("unshare", "-rm", "true").CombinedOutput(); err != nil {
		t.Skipf("a private tmpfs needs unshare with user and mount namespaces: %v %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustDo(t, err)
	addr := ln.Addr().String()
	ln.Close()
	d := &diskServer{t: t, mnt: t.TempDir(), addr: addr, logs: &syncBuffer{}, bin: bin}
	script := `mount -t tmpfs -o size="$SIZE" tmpfs "$MNT" && cp -a "$SRC"/. "$MNT"/ || exit 1
while [ ! -e "$MNT/stop" ]; do "$BIN" serve --data "$MNT" --listen "$ADDR" --log json; sleep 0.1; done`
	d.sh = exec.Command("unshare", "-rm", "sh", "-c", script)
	d.sh.Env = append(os.Environ(), "SIZE="+size, "MNT="+d.mnt, "SRC="+prepared, "BIN="+bin, "ADDR="+addr, server.KEKEnv+"=")
	d.sh.Stdout, d.sh.Stderr = d.logs, d.logs
	d.sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	mustDo(t, d.sh.Start())
	t.Cleanup(func() {
		syscall.Kill(-d.sh.Process.Pid, syscall.SIGKILL)
		d.sh.Wait()
	})
	d.store = filepath.Join("/proc", strconv.Itoa(d.sh.Process.Pid), "root", d.mnt)
	d.waitHealth("SERVING")
	return d
}

func (d *diskServer) URL() string { return "http://" + d.addr }

// health asks the gRPC health service (over Connect's JSON) for the server's status.
func (d *diskServer) health() string {
	res, err := http.Post(d.URL()+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader(`{"service":""}`))
	if err != nil {
		return "unreachable"
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	switch {
	case bytes.Contains(b, []byte(`"SERVING_STATUS_SERVING"`)):
		return "SERVING"
	case bytes.Contains(b, []byte(`"SERVING_STATUS_NOT_SERVING"`)):
		return "NOT_SERVING"
	}
	return string(b)
}

func (d *diskServer) waitHealth(want string) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		if got = d.health(); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Fatalf("health %q, want %q\n%s", got, want, d.logs.String())
}

// metric reads one unlabelled sample from /metrics.
func (d *diskServer) metric(name string) float64 {
	d.t.Helper()
	res, err := http.Get(d.URL() + "/metrics")
	mustDo(d.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	mustDo(d.t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			mustDo(d.t, err)
			return f
		}
	}
	d.t.Fatalf("no metric %s", name)
	return 0
}

// signIn signs in on the pages as a browser would (the form's CSRF cookie and field first).
func (d *diskServer) signIn(name, password string) (int, string) {
	d.t.Helper()
	jar, err := cookiejar.New(nil)
	mustDo(d.t, err)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(d.URL() + "/signin")
	mustDo(d.t, err)
	form, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(form)
	if m == nil {
		d.t.Fatalf("no CSRF field in the sign-in form:\n%s", form)
	}
	res, err = c.PostForm(d.URL()+"/signin", url.Values{"csrf": {string(m[1])}, "name": {name}, "password": {password}})
	mustDo(d.t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, html.UnescapeString(string(body))
}

// fill writes a ballast file until the tmpfs has no space left.
func (d *diskServer) fill() {
	d.t.Helper()
	f, err := os.Create(filepath.Join(d.store, "ballast"))
	mustDo(d.t, err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				d.t.Fatalf("fill the disk: %v", err)
			}
			return
		}
	}
}

// admin runs `samvaer admin` on the server's data directory inside its namespace (SQLite
// resolves /proc/<pid>/root to this process's own root, so it must run there).
func (d *diskServer) admin(args ...string) ([]byte, error) {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(d.sh.Process.Pid), "-U", "-m", "--preserve-credentials", "--",
		d.bin, "admin", "--data", d.mnt}, args...)...)
	cmd.Env = append(os.Environ(), server.KEKEnv+"=")
	return cmd.CombinedOutput()
}

func (d *diskServer) free() { mustDo(d.t, os.Remove(filepath.Join(d.store, "ballast"))) }

// kill SIGKILLs the running server (the shell starts it again).
func (d *diskServer) kill() {
	d.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", d.sh.Process.Pid, d.sh.Process.Pid))
	mustDo(d.t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		d.t.Fatalf("the server's pid: %q", b)
	}
	mustDo(d.t, syscall.Kill(pid, syscall.SIGKILL))
}

// A full disk on the server: the tablet hears that the server cannot store changes right now
// and that its changes are kept (ResourceExhausted, not "Internal error"), they stay pending on
// the tablet; health says NOT_SERVING and samvaer_store_writes_failing is 1. Once space is
// freed, health is SERVING again without a restart, the next sync stores every change exactly
// once, and what was acknowledged — before the disk filled and after — is all still there after
// the server is killed with SIGKILL and restarted.
func TestAFullDiskIsReportedAndLosesNothing(t *testing.T) {
	sqliteOnly(t, "the SQLite file on a file system that fills up")
	ctx := context.Background()
	bin := buildSamvaer(t)
	prepared := t.TempDir()
	t.Setenv(server.KEKEnv, "")
	st, err := server.OpenStore(prepared, nil)
	mustDo(t, err)
	_, err = st.AddUser(ctx, "kim", []string{"consultant"})
	mustDo(t, err)
	_, err = st.AddUser(ctx, "sara", []string{"caseworker"})
	mustDo(t, err)
	mustDo(t, st.SetPassword(ctx, server.Actor{}, "sara", "sara has a long password"))
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ida"}, Parents: []string{"Mette"}, Caseworker: "sara"})
	mustDo(t, err)
	start := time.Now().Add(-time.Hour)
	visitID, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "kim", Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Place: "Rum 2"})
	mustDo(t, err)
	code, _, err := st.NewEnrollmentCode(ctx, "kim")
	mustDo(t, err)
	mustDo(t, st.Close())

	d := startDiskServer(t, bin, prepared, "24m")
	opts := clientlib.Options{HTTPClient: &http.Client{Timeout: 30 * time.Second}, PIN: testPIN, KDF: testKDF}
	tab, err := clientlib.Enroll(ctx, t.TempDir(), d.URL(), code, "iPad 3", opts)
	mustDo(t, err)
	defer tab.Close()
	_, err = tab.Sync(ctx)
	mustDo(t, err)
	pad := strings.Repeat("Ida og mor bygger et tårn af klodser. ", 200) // about 8 KiB
	observe := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := tab.Observe(ctx, visitID, fmt.Sprintf("observation %03d: %s", i, pad))
			mustDo(t, err)
		}
	}
	observe(0, 5)
	_, err = tab.Sync(ctx)
	mustDo(t, err)

	d.fill()
	observe(5, 205)
	_, err = tab.Sync(ctx)
	if syncer.ErrorCode(err) != syncer.CodeResourceExhausted || !strings.Contains(syncer.ErrorMessage(err), "cannot store changes right now") ||
		!strings.Contains(syncer.ErrorMessage(err), "your changes are kept") {
		t.Fatalf("a sync to a full disk: %v (%s), want ResourceExhausted saying the changes are kept", err, syncer.ErrorCode(err))
	}
	status, err := tab.Status(ctx)
	mustDo(t, err)
	if status.Pending != 200 {
		t.Fatalf("%d changes pending after the failed sync, want the 200 not stored", status.Pending)
	}
	if got := d.health(); got != "NOT_SERVING" {
		t.Fatalf("health %q while the disk is full", got)
	}
	if d.metric("samvaer_store_writes_failing") != 1 || d.metric("samvaer_store_write_failures_total") < 1 {
		t.Fatal("the metrics do not show that writes fail")
	}
	// The pages obey the same rule, in their own words: a sign-in (it writes the audit log and a
	// session) is refused with 507 and a sentence, in Danish by default, saying nothing was saved.
	if status, body := d.signIn("sara", "sara has a long password"); status != http.StatusInsufficientStorage || !strings.Contains(body, "blev ikke gemt") {
		t.Fatalf("a sign-in on a full disk: %d\n%s", status, body)
	}

	d.free()
	d.waitHealth("SERVING") // the health check's write probe fits again: no restart needed
	if d.metric("samvaer_store_writes_failing") != 0 {
		t.Fatal("samvaer_store_writes_failing stays 1 after space was freed")
	}
	r, err := tab.Sync(ctx)
	mustDo(t, err)
	if r.Pushed != 200 || r.Applied != 200 {
		t.Fatalf("the sync after space was freed: %+v, want the 200 pending changes applied", r)
	}

	d.kill()
	d.waitHealth("SERVING")
	_, err = tab.Sync(ctx)
	mustDo(t, err)
	visits, err := tab.Visits(ctx)
	mustDo(t, err)
	seen := map[string]int{}
	for _, v := range visits {
		for _, o := range v.Observations {
			seen[o.Text[:len("observation 000")]]++
		}
	}
	for i := range 205 {
		if n := seen[fmt.Sprintf("observation %03d", i)]; n != 1 {
			t.Fatalf("observation %d is there %d times after the restart", i, n)
		}
	}
	want, err := tab.Digest(ctx, caseID)
	mustDo(t, err)
	out, err := d.admin("digest", caseID)
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Fatalf("the server's digest %q (%v), the tablet's %q", out, err, want)
	}
	if strings.Contains(d.logs.String(), "Ida og mor") {
		t.Fatal("an observation's text is in the server's log")
	}
}
