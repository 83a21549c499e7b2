package main

import (
	"context"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/samvaer/sync/server"
)

// The sign-in commands: who a user is at the identity provider (add, set, cleared, one user to
// a subject), and resetting a second factor, audited; serve refuses settings that cannot work.
func TestSignInCommands(t *testing.T) {
	c, data, _, _ := adminFixture(t)
	c.must("admin", "--data", data, "user", "add", "--name", "ada", "--role", "admin", "--oidc-subject", "ada@kommune.dk")
	if out := c.must("admin", "--data", data, "user", "set", "sara", "--oidc-subject", "sara@kommune.dk"); !strings.Contains(out, `"sara@kommune.dk"`) {
		t.Fatalf("set: %s", out)
	}
	if stderr, code := c.fails("admin", "--data", data, "user", "set", "kim", "--oidc-subject", "sara@kommune.dk"); code != 5 || !strings.Contains(stderr, "already has") {
		t.Fatalf("a taken subject: %d %s", code, stderr)
	}
	if stderr, code := c.fails("admin", "--data", data, "user", "set", "kim"); code != 2 || !strings.Contains(stderr, "--oidc-subject") {
		t.Fatalf("set without a setting: %d %s", code, stderr)
	}
	if out := c.must("admin", "--data", data, "user", "list"); !strings.Contains(out, "SECOND FACTOR") || !strings.Contains(out, "ada@kommune.dk") {
		t.Fatalf("list:\n%s", out)
	}
	if out := c.must("admin", "--data", data, "user", "set", "sara", "--oidc-subject", ""); !strings.Contains(out, "no longer") {
		t.Fatalf("clear: %s", out)
	}

	// Sara sets up an app; the admin resets it on the command line.
	st, err := server.OpenStore(data, nil)
	ok(t, err)
	ctx := context.Background()
	sara, err := st.UserByName(ctx, "sara")
	ok(t, err)
	e, err := st.StartTOTP(ctx, sara.ID)
	ok(t, err)
	code, err := totp.GenerateCode(e.Secret, st.Now())
	ok(t, err)
	_, err = st.ConfirmTOTP(ctx, "", sara.ID, code)
	ok(t, err)
	ok(t, st.Close())
	if out := c.must("admin", "--data", data, "user", "reset-factors", "sara"); !strings.Contains(out, "reset") {
		t.Fatalf("reset-factors: %s", out)
	}
	st, err = server.OpenStore(data, nil)
	ok(t, err)
	defer st.Close()
	if has, err := st.HasFactor(ctx, sara.ID); err != nil || has {
		t.Fatalf("after the reset: %v %v", has, err)
	}
	entries, err := st.AuditEntries(ctx, server.AuditFilter{Kinds: []string{server.AuditFactorsReset}})
	if err != nil || len(entries) != 1 || entries[0].Detail["user"] != sara.ID || entries[0].Detail["via"] != "command line" {
		t.Fatalf("the reset in the audit log: %+v %v", entries, err)
	}

	for _, args := range [][]string{
		{"serve", "--data", t.TempDir(), "--local-passwords=false"},
		{"serve", "--data", t.TempDir(), "--require-second-factor", "sometimes"},
		{"serve", "--data", t.TempDir(), "--oidc-issuer", "https://idp.example", "--oidc-client-id", "samvaer", "--oidc-redirect-url", "https://samvaer.example/"},
	} {
		if stderr, code := c.fails(args...); code != 2 {
			t.Errorf("samvaer %s: exit %d, %s", strings.Join(args, " "), code, stderr)
		}
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
