package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/samvaer/sync/clientlib"
	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// Child processes for tests that inject real faults: the server and the tablets run as separate
// processes (this test binary re-executed in a helper role) so a test can kill them with SIGKILL
// at any moment — mid-push, mid-pull, between a local write and its push — and start them again
// on the same data directory or home.

// helperEnv names the role a re-executed test binary plays; the other SAMVAER_E2E_ variables
// configure it.
const helperEnv = "SAMVAER_E2E_HELPER"

// runHelper runs the helper role named in the environment, if any, and reports whether it did.
func runHelper() (code int, ran bool) {
	switch os.Getenv(helperEnv) {
	case "":
		return 0, false
	case "server":
		return reportHelper(serveHelper()), true
	case "tablet":
		return reportHelper(tabletHelper()), true
	}
	fmt.Fprintln(os.Stderr, "unknown helper role")
	return 2, true
}

func reportHelper(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// serveHelper runs the server as samvaer serve does, on SAMVAER_E2E_DATA and SAMVAER_E2E_LISTEN,
// logging to stderr, and prints "ready ADDR" once it accepts connections.
func serveHelper() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := server.DefaultConfig()
	cfg.DataDir = os.Getenv("SAMVAER_E2E_DATA")
	cfg.Database = os.Getenv("SAMVAER_E2E_DATABASE")
	cfg.Listen = os.Getenv("SAMVAER_E2E_LISTEN")
	cfg.SubscribePoll = 50 * time.Millisecond
	if poll, err := time.ParseDuration(os.Getenv("SAMVAER_E2E_POLL")); err == nil {
		cfg.SubscribePoll = poll
	}
	cfg.Logger = zerolog.New(zerolog.SyncWriter(os.Stderr)).With().Timestamp().Logger()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	pages, err := web.New(srv.Store, web.Config{Logger: cfg.Logger})
	if err != nil {
		srv.Close()
		return err
	}
	srv.Mount("/", pages)
	var ln net.Listener
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", cfg.Listen); err == nil || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the killed server's port is being released
	}
	if err != nil {
		srv.Close()
		return err
	}
	if file := os.Getenv("SAMVAER_E2E_CPUPROFILE"); file != "" {
		go profileOnSignal(file)
	}
	fmt.Println("ready", ln.Addr().String())
	return srv.Serve(ctx, ln)
}

// profileOnSignal writes a CPU profile of the server to file from one SIGUSR1 to the next (the
// load test profiles its steady state so; SAMVAER_LOAD_PROFILE).
func profileOnSignal(file string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	<-sig
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	<-sig
	pprof.StopCPUProfile()
}

// serverProc is the server as a child process on a fixed loopback address and data directory.
type serverProc struct {
	t    testing.TB
	dir  string
	addr string
	logs *syncBuffer
	cmd  *exec.Cmd
	// sqlite keeps the store in dir's SQLite file even in a PostgreSQL run; poll, when set, is
	// the Subscribe poll instead of the tests' 50 ms (the load test runs the default).
	sqlite bool
	poll   time.Duration
	// profile, when set, is where the server writes a CPU profile between two SIGUSR1s.
	profile string
}

// startServerProc starts a server child process with a new data directory.
func startServerProc(t testing.TB) *serverProc {
	t.Helper()
	return startServerProcOn(t, t.TempDir())
}

// startServerProcOn starts a server child process on data directory dir: with the directory's
// PostgreSQL database, another instance of the server already running there (its keys are the
// directory's too).
func startServerProcOn(t testing.TB, dir string) *serverProc {
	t.Helper()
	s := &serverProc{t: t, dir: dir, addr: "127.0.0.1:0", logs: &syncBuffer{}}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *serverProc) URL() string { return "http://" + s.addr }

// start runs the server and waits until it listens.
func (s *serverProc) start() {
	s.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	database := ""
	if !s.sqlite {
		database = databaseFor(s.t, s.dir)
	}
	cmd.Env = append(os.Environ(), helperEnv+"=server", "SAMVAER_E2E_DATA="+s.dir, "SAMVAER_E2E_LISTEN="+s.addr,
		"SAMVAER_E2E_DATABASE="+database)
	if s.poll > 0 {
		cmd.Env = append(cmd.Env, "SAMVAER_E2E_POLL="+s.poll.String())
	}
	if s.profile != "" {
		cmd.Env = append(cmd.Env, "SAMVAER_E2E_CPUPROFILE="+s.profile)
	}
	cmd.Stderr = s.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			s.t.Fatalf("server did not start: %s", s.logs.String())
		}
		s.addr, s.cmd = addr, cmd
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		s.t.Fatalf("server did not start within a minute: %s", s.logs.String())
	}
}

// kill ends the server with SIGKILL: no shutdown, no flush, whatever it was doing.
func (s *serverProc) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// crash kills the server and starts it again on the same address and data directory.
func (s *serverProc) crash() {
	s.t.Helper()
	s.kill()
	s.start()
}

// admin runs fn on the server's data directory in this process, as samvaer admin does while the
// server runs.
func (s *serverProc) admin(fn func(ctx context.Context, st *server.Store) error) error {
	st, err := openStore(s.t, s.dir)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(context.Background(), st)
}

// tabletRequest is one command to a tablet helper, one JSON object per line on its stdin.
type tabletRequest struct {
	Op      string `json:"op"`
	Visit   string `json:"visit,omitempty"`
	Section string `json:"section,omitempty"`
	Text    string `json:"text,omitempty"`
	Item    string `json:"item,omitempty"`
	Checked bool   `json:"checked,omitempty"`
	Case    string `json:"case,omitempty"`
	N       int    `json:"n,omitempty"`
}

// tabletReply is a helper's answer (Reply true) or an event it reports on its own (a push the
// tablet made and what the server answered), one JSON object per line on its stdout.
type tabletReply struct {
	Reply  bool              `json:"reply,omitempty"`
	Err    string            `json:"err,omitempty"`
	Digest string            `json:"digest,omitempty"`
	Visits []clientlib.Visit `json:"visits,omitempty"`
	Sync   clientlib.SyncResult
	Dead   []clientlib.DeadLetter `json:"dead,omitempty"`

	Push *pushExchange `json:"push,omitempty"`
}

// pushExchange is one push a tablet sent and the server answered, as the tablet received it, or
// (Replay) a push the network delivered again late, with the server's answer the tablet never
// heard.
type pushExchange struct {
	Changes []pushedChange `json:"changes"`
	Results []pushedResult `json:"results"`
	Replay  bool           `json:"replay,omitempty"`
}

type pushedChange struct {
	Seq    int64             `json:"seq"`
	Op     v1.Op             `json:"op"`
	Type   string            `json:"type"`
	Record string            `json:"record"`
	Case   string            `json:"case"`
	Fields map[string]string `json:"fields"`
	// Escrow is an escrowed change as sent (Change.escrow): only the server can open it, which
	// the checker has it do (convWorld.openEscrows).
	Escrow []byte `json:"escrow,omitempty"`
}

type pushedResult struct {
	Seq       int64     `json:"seq"`
	Result    v1.Result `json:"result"`
	ServerSeq int64     `json:"server_seq"`
	Reason    string    `json:"reason"`
}

// tabletHelper opens the tablet in SAMVAER_E2E_HOME and runs commands from stdin until it is
// killed or stdin closes.
func tabletHelper() error {
	page, _ := strconv.Atoi(os.Getenv("SAMVAER_E2E_PAGE"))
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	emit := func(r tabletReply) {
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(r)
	}
	net := newFlaky()
	tap := &pushTap{next: net, emit: emit}
	net.onReplay = func(header http.Header, body []byte, res *http.Response) error {
		if res.StatusCode != http.StatusOK {
			return nil // refused whole: nothing applied
		}
		resBody, err := io.ReadAll(res.Body)
		if err != nil {
			return nil // cut off: as if lost
		}
		if err := tap.report(header, body, res.Header, resBody, true); err != nil {
			return fmt.Errorf("tap: replayed push: %w", err)
		}
		return nil
	}
	tb, err := clientlib.Open(os.Getenv("SAMVAER_E2E_HOME"), clientlib.Options{
		HTTPClient:  &http.Client{Transport: tap, Timeout: 30 * time.Second},
		PIN:         testPIN,
		PageChanges: page,
		PushBatch:   page,
	})
	if err != nil {
		return err
	}
	defer tb.Close()
	emit(tabletReply{Reply: true})
	ctx := context.Background()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for in.Scan() {
		var req tabletRequest
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return err
		}
		r := tabletReply{Reply: true}
		var err error
		switch req.Op {
		case "visits":
			r.Visits, err = tb.Visits(ctx)
		case "set":
			err = tb.SetReportSection(ctx, req.Visit, req.Section, req.Text)
		case "check":
			err = tb.Check(ctx, req.Visit, req.Item, req.Checked)
		case "observe":
			_, err = tb.Observe(ctx, req.Visit, req.Text)
		case "sync":
			net.mu.Lock()
			net.lose = req.N
			net.mu.Unlock()
			r.Sync, err = tb.Sync(ctx)
			net.mu.Lock()
			net.lose = 0
			net.mu.Unlock()
		case "replay":
			err = net.replay(req.N)
		case "digest":
			r.Digest, err = tb.Digest(ctx, req.Case)
		case "dead":
			r.Dead, err = tb.DeadLetters(ctx)
		default:
			err = fmt.Errorf("unknown op %q", req.Op)
		}
		if err != nil {
			r.Err = err.Error()
		}
		emit(r)
	}
	return in.Err()
}

// pushTap reports every push the tablet sends and the results it receives, before the tablet
// itself sees them.
type pushTap struct {
	next http.RoundTripper
	emit func(tabletReply)
}

func (p *pushTap) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/Push") || req.Body == nil {
		return p.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	res, err := p.next.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if err := p.report(req.Header, body, res.Header, resBody, false); err != nil {
		return nil, fmt.Errorf("tap: %w", err)
	}
	return res, nil
}

// report emits one answered push.
func (p *pushTap) report(reqHeader http.Header, body []byte, resHeader http.Header, resBody []byte, replay bool) error {
	var pushReq v1.PushRequest
	var pushRes v1.PushResponse
	if err := proto.Unmarshal(decoded(reqHeader, body), &pushReq); err != nil {
		return fmt.Errorf("push request: %w", err)
	}
	if err := proto.Unmarshal(decoded(resHeader, resBody), &pushRes); err != nil {
		return fmt.Errorf("push response: %w", err)
	}
	x := &pushExchange{Replay: replay}
	for _, c := range pushReq.Changes {
		pc := pushedChange{Seq: c.DeviceSeq, Op: c.Op, Type: c.Record.GetType(), Record: c.Record.GetId(), Case: c.Record.GetCaseId(), Fields: map[string]string{}, Escrow: c.Escrow}
		for _, f := range c.Fields {
			pc.Fields[f.Name] = f.Value
		}
		x.Changes = append(x.Changes, pc)
	}
	for _, r := range pushRes.Results {
		x.Results = append(x.Results, pushedResult{Seq: r.DeviceSeq, Result: r.Result, ServerSeq: r.ServerSeq, Reason: r.Reason})
	}
	p.emit(tabletReply{Push: x})
	return nil
}

// decoded undoes a Connect unary body's gzip encoding, if any.
func decoded(h http.Header, body []byte) []byte {
	if h.Get("Content-Encoding") != "gzip" {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return body
	}
	return b
}

// tabletProc is a tablet helper process on a home it keeps across kills.
type tabletProc struct {
	t       testing.TB
	home    string
	page    int
	onPush  func(*pushExchange)
	mu      sync.Mutex // one command at a time
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan tabletReply
	stderr  *syncBuffer
}

// errTabletDied is the answer to a command the tablet was killed during.
var errTabletDied = errors.New("the tablet process died")

// start runs the helper and waits until the tablet is open.
func (p *tabletProc) start() {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=tablet", "SAMVAER_E2E_HOME="+p.home, "SAMVAER_E2E_PAGE="+strconv.Itoa(p.page))
	if p.stderr == nil {
		p.stderr = &syncBuffer{} // kept across restarts: the test reads every process's log
	}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	replies := make(chan tabletReply, 1)
	go func() {
		defer close(replies)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var r tabletReply
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return // a line cut short by SIGKILL
			}
			if r.Push != nil {
				p.onPush(r.Push)
				continue
			}
			replies <- r
		}
	}()
	p.cmd, p.stdin, p.replies = cmd, stdin, replies
	select {
	case r, ok := <-replies:
		if !ok || r.Err != "" {
			p.t.Fatalf("tablet helper did not start: %s %s", r.Err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		p.t.Fatalf("tablet helper did not start within a minute: %s", p.stderr.String())
	}
}

// do sends one command and waits for its answer; errTabletDied when the process was killed.
func (p *tabletProc) do(req tabletRequest) (tabletReply, error) {
	p.mu.Lock()
	stdin, replies := p.stdin, p.replies
	p.mu.Unlock()
	if stdin == nil {
		return tabletReply{}, errTabletDied
	}
	b, _ := json.Marshal(req)
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		return tabletReply{}, errTabletDied
	}
	r, ok := <-replies
	if !ok {
		return tabletReply{}, errTabletDied
	}
	if r.Err != "" {
		return r, errors.New(r.Err)
	}
	return r, nil
}

// kill ends the tablet with SIGKILL, whatever it is doing; reopen starts it on the same home.
func (p *tabletProc) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd, p.stdin = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func (p *tabletProc) reopen() {
	p.t.Helper()
	p.kill()
	p.start()
}
