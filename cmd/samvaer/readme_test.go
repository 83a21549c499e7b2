package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// walkThrough returns the shell blocks of the README from "Five minutes with it" up to the
// architecture, in order: the walk-through a person follows.
func walkThrough(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start, end := strings.Index(readme, "## Five minutes with it"), strings.Index(readme, "## Architecture")
	if start < 0 || end < start {
		t.Fatal("the README has no walk-through section")
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(readme[start:end], -1) {
		script.WriteString(m[1])
	}
	return script.String()
}

// The README's walk-through runs as written, in bash with jq, against a real server: each line
// must succeed (set -e), the two digests printed must be equal, and what the lines claim is
// true afterwards. The only changes are the two a test must make: the server listens on a free
// port rather than 8080, and runs in the background rather than in a second terminal.
func TestREADMEWalkThroughRunsAsWritten(t *testing.T) {
	for _, tool := range []string{"bash", "jq", "date"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s (make deps installs it): %v", tool, err)
		}
	}
	dir := t.TempDir()
	// bin/samvaer as the README builds it (without the race detector, which would make every
	// PIN derivation take seconds).
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "samvaer"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	served := false
	for _, line := range strings.Split(walkThrough(t), "\n") {
		switch {
		case strings.HasPrefix(line, "go build "):
			continue // built above
		case strings.HasPrefix(line, "bin/samvaer serve "):
			line += " --listen " + addr + " --log json 2>server.log &\nSERVER=$!\ntrap 'kill $SERVER' EXIT\n" +
				"for i in $(seq 300); do curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' http://" + addr +
				"/grpc.health.v1.Health/Check && break; sleep 0.1; done"
			served = true
		}
		script.WriteString(strings.ReplaceAll(line, "127.0.0.1:8080", addr) + "\n")
	}
	if !served {
		t.Fatal("the walk-through does not start the server")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the test waits for the server with curl: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SAMVAER_TZ=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		t.Fatalf("the walk-through failed: %v\n--- output\n%s\n--- errors\n%s\n--- server log (tail)\n%s", err, out.String(), errOut.String(), tail(string(log), 2000))
	}
	text := out.String()

	// The digests of the case on the tablet and on the server, printed one after the other.
	digests := regexp.MustCompile(`(?m)^([0-9a-f]{64})\n([0-9a-f]{64})$`).FindStringSubmatch(text)
	if digests == nil || digests[1] != digests[2] {
		t.Fatalf("the two digests are not printed equal:\n%s", text)
	}
	for _, want := range []string{
		"Pending changes: 3", // $T status
		"iPad 3, Team Nord",  // device list
		"submitted",          // report list
		"Ida", "Emil",        // case show: the children
		"the parents ask what is recorded", "prepare the follow-up meeting", // audit export
		"exit code 4",             // the lost tablet is refused
		"The audit log is intact", // audit verify
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the walk-through's output lacks %q", want)
		}
	}
	data := filepath.Join(dir, "samvaer-data")
	c := cli{t}
	if out := c.must("admin", "--data", data, "report", "list", "--case", "2026-0042"); !strings.Contains(out, "acknowledged") {
		t.Errorf("the report is not acknowledged:\n%s", out)
	}
	if out := c.must("admin", "--data", data, "device", "list"); !strings.Contains(out, "lost") || !strings.Contains(out, "Sara's laptop") {
		t.Errorf("device list after the walk-through:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "kim-tablet")); !os.IsNotExist(err) {
		t.Errorf("the lost tablet's home is still there: %v", err)
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
