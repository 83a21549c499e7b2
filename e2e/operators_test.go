package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server"
)

// What an operator or a script sees at the edges of the running server.

// A call the server does not have is answered Unimplemented (HTTP 501 over Connect), with and
// without a token, and the answer is the same sentence for both: it names nothing but the
// mismatch of versions. A procedure of the contract still needs a valid token.
func TestAnUnknownProcedureIsUnimplemented(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	var messages []string
	for _, procedure := range []string{"/samvaer.v1.SyncService/PushEverything", "/samvaer.v1.AdminService/DropDatabase"} {
		client := connect.NewClient[emptypb.Empty, emptypb.Empty](http.DefaultClient, w.srv.URL()+procedure)
		for _, header := range []string{"", "Bearer " + tok, "Bearer garbage"} {
			req := connect.NewRequest(&emptypb.Empty{})
			if header != "" {
				req.Header().Set("Authorization", header)
			}
			_, err := client.CallUnary(ctx, req)
			if connect.CodeOf(err) != connect.CodeUnimplemented {
				t.Fatalf("%s with %q: %v, want Unimplemented", procedure, header, err)
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || !strings.Contains(ce.Message(), "no such call") {
				t.Fatalf("%s: message %v", procedure, err)
			}
			messages = append(messages, ce.Message())
		}
	}
	for _, m := range messages {
		if m != messages[0] {
			t.Fatalf("the answer depends on the caller: %q vs %q", m, messages[0])
		}
	}
	res, err := http.Post(w.srv.URL()+"/samvaer.v1.SyncService/PushEverything", "application/json", strings.NewReader("{}"))
	mustDo(t, err)
	res.Body.Close()
	if res.StatusCode != http.StatusNotImplemented {
		t.Fatalf("HTTP status %d, want 501", res.StatusCode)
	}
	pull := connect.NewClient[emptypb.Empty, emptypb.Empty](http.DefaultClient, w.srv.URL()+"/samvaer.v1.SyncService/Pull")
	if _, err := pull.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("Pull without a token: %v", err)
	}
}

// The binary an operator runs: `admin digest` of a case the server does not have fails (exit
// status 3, not found: "No case matches") instead of printing the hash of nothing, and `serve` refuses a data
// directory whose database file was emptied beside its keys, leaving the file as it was.
func TestOperatorCommandsFailClearly(t *testing.T) {
	sqliteOnly(t, "an emptied SQLite file beside its keys")
	bin := buildSamvaer(t)
	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SAMVAER_KEK=")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("samvaer %v: %v", args, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := run("admin", "--data", dir, "user", "add", "--name", "sara", "--role", "caseworker"); code != 0 {
		t.Fatalf("user add: %d\n%s", code, out)
	}
	unknown := "0190c5a0-0000-7000-8000-000000000000"
	if out, code := run("admin", "--data", dir, "digest", unknown); code != 3 || !strings.Contains(out, "No case matches") {
		t.Fatalf("digest of an unknown case: exit %d\n%s", code, out)
	}
	mustDo(t, os.Truncate(filepath.Join(dir, server.DBFile), 0))
	out, code := run("serve", "--data", dir, "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(out, "is empty") || !strings.Contains(out, "Restore samvaer.db from a backup") {
		t.Fatalf("serve on an emptied database: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, server.DBFile)); err != nil || fi.Size() != 0 {
		t.Fatalf("the refused file was changed: %v %v", fi, err)
	}
}

// A tablet whose enrollment answer is lost (the server used the code, the tablet never heard)
// asks again with the same code and key and is enrolled as the same device: it syncs, and the
// server has one device for the consultant, not an unused one beside it.
func TestAnEnrollmentWhoseAnswerWasLostSucceeds(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	st := w.srv.Store()
	code, _, err := st.NewEnrollmentCode(ctx, "Kim")
	mustDo(t, err)
	net := newFlaky()
	t.Cleanup(net.close)
	net.lose, net.loseOnly = 1, "/Enroll"
	opts := clientlib.Options{HTTPClient: &http.Client{Transport: net, Timeout: 30 * time.Second}, PIN: testPIN, KDF: testKDF}
	tab, err := clientlib.Enroll(ctx, t.TempDir(), w.srv.URL(), code, "iPad 3", opts)
	mustDo(t, err)
	t.Cleanup(func() { tab.Close() })
	if net.lose != 0 {
		t.Fatal("no enrollment answer was lost")
	}
	_, err = tab.Sync(ctx)
	mustDo(t, err)
	devices, err := st.Devices(ctx)
	mustDo(t, err)
	var kims []string
	for _, d := range devices {
		if d.UserName == "Kim" {
			kims = append(kims, d.ID)
		}
	}
	if len(kims) != 1 || kims[0] != tab.DeviceID() {
		t.Fatalf("Kim's devices %v, want only the tablet's %s", kims, tab.DeviceID())
	}
}
