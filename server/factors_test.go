package server

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/samvaer/sync/syncer"
)

// code is the authenticator app's code for secret at the fixture's time.
func (f *fixture) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP sets up an authenticator app for a user and returns its secret and recovery codes.
func (f *fixture) enrolTOTP(t *testing.T, userID string) (string, []string) {
	t.Helper()
	e := must(f.store.StartTOTP(f.ctx, userID))
	u, err := url.Parse(e.URL)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != e.Secret {
		t.Fatalf("the QR code's address %q does not hold the secret", e.URL)
	}
	if _, err := f.store.ConfirmTOTP(f.ctx, "", userID, "000000"+"x"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a wrong confirmation code: %v", err)
	}
	codes := must(f.store.ConfirmTOTP(f.ctx, "", userID, f.code(t, e.Secret)))
	if len(codes) != RecoveryCodes {
		t.Fatalf("%d recovery codes", len(codes))
	}
	return e.Secret, codes
}

// The second factor: the password alone does not sign in a person who has one; the code does,
// once per time step; a wrong code is a failed sign-in and blocks like a wrong password; each
// recovery code works once; the secret is sealed at rest; an admin's reset is audited.
func TestSecondFactorSignIn(t *testing.T) {
	cheapPasswords(t)
	f := newFixture(t)
	const good = "korrekt hest batteri"
	sara := must(f.store.UserByName(f.ctx, "Sara Caseworker"))
	mustDo(t, f.store.SetPassword(f.ctx, Actor{}, sara.Name, good))
	if step := must(f.store.SignIn(f.ctx, sara.Name, good)); step.Next != "" {
		t.Fatalf("a caseworker without a factor, under the default requirement: %q", step.Next)
	}
	secret, recovery := f.enrolTOTP(t, sara.ID)
	if _, err := f.store.StartTOTP(f.ctx, sara.ID); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("a second enrolment over a confirmed one: %v", err)
	}
	var sealed []byte
	mustDo(t, f.store.read.QueryRow(`SELECT secret FROM user_factors WHERE user_id = ?`, sara.ID).Scan(&sealed))
	if bytes.Contains(sealed, []byte(secret)) {
		t.Fatal("the TOTP secret is stored in the clear")
	}

	pending := func() string {
		t.Helper()
		step := must(f.store.SignInFrom(f.ctx, sara.Name, good, "10.0.0.1"))
		if step.Next != StageFactor {
			t.Fatalf("the password alone: next %q", step.Next)
		}
		token, sess := must2(f.store.StartSession(f.ctx, step))
		if sess.Stage != StageFactor {
			t.Fatalf("the pending session's stage %q", sess.Stage)
		}
		return token
	}
	head := must(f.store.VerifyAudit(f.ctx)).HeadID
	f.clock.Add(time.Minute) // the enrolment's code's step is used
	token := pending()
	code := f.code(t, secret)
	full, sess, err := f.store.CompleteSignIn(f.ctx, token, code, "10.0.0.1")
	if err != nil || sess.Stage != "" || sess.User.ID != sara.ID {
		t.Fatalf("the right code: %v %+v", err, sess)
	}
	if _, err := f.store.Session(f.ctx, token); err == nil {
		t.Fatal("the pending session lives on after the sign-in")
	}
	if s := must(f.store.Session(f.ctx, full)); s.Stage != "" {
		t.Fatalf("the full session: %+v", s)
	}
	// The same code again, in the same time step: refused, and counted.
	if _, _, err := f.store.CompleteSignIn(f.ctx, pending(), code, "10.0.0.1"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a replayed code: %v", err)
	}
	// A pending session is only good for FactorStepTTL.
	late := pending()
	f.clock.Add(FactorStepTTL + time.Second)
	if _, _, err := f.store.CompleteSignIn(f.ctx, late, f.code(t, secret), "10.0.0.1"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a code after the step's time: %v", err)
	}
	// A recovery code works once, in any letter case.
	if _, _, err := f.store.CompleteSignIn(f.ctx, pending(), strings.ToLower(recovery[0]), "10.0.0.1"); err != nil {
		t.Fatalf("a recovery code: %v", err)
	}
	if _, _, err := f.store.CompleteSignIn(f.ctx, pending(), recovery[0], "10.0.0.1"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a used recovery code: %v", err)
	}
	if n := must(f.store.RecoveryCodesLeft(f.ctx, sara.ID)); n != RecoveryCodes-1 {
		t.Fatalf("%d recovery codes left", n)
	}
	// Wrong codes block like wrong passwords: the failures before a right password keep
	// counting, so knowing the password buys no extra guesses.
	for i := 0; i < SignInMaxFailures-1; i++ {
		if _, _, err := f.store.CompleteSignIn(f.ctx, pending(), "12345"+string(rune('a'+i)), "10.0.0.1"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := f.store.SignInFrom(f.ctx, sara.Name, good, "10.0.0.1"); syncer.ErrorCode(err) != syncer.CodePermissionDenied {
		t.Fatalf("the password after %d wrong codes and a replay: %v", SignInMaxFailures, err)
	}
	got := kinds(t, f, head)
	want := []string{"sign_in:", "sign_in.failed:wrong code", "sign_in:", "sign_in.failed:wrong code"}
	for range SignInMaxFailures - 1 {
		want = append(want, "sign_in.failed:wrong code")
	}
	want = append(want, "sign_in.failed:locked")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit\n got %v\nwant %v", got, want)
	}

	// The admin resets the factor (a lost phone): the sessions end, the password signs in again.
	_ = must(f.store.UnblockSignIn(f.ctx, Actor{}, sara.Name, ""))
	_ = must(f.store.ResetFactors(f.ctx, Actor{}, sara.Name))
	if _, err := f.store.Session(f.ctx, full); err == nil {
		t.Fatal("a session outlived the reset")
	}
	if step := must(f.store.SignIn(f.ctx, sara.Name, good)); step.Next != "" {
		t.Fatalf("after the reset: next %q", step.Next)
	}
	entries := must(f.store.AuditEntries(f.ctx, AuditFilter{Kinds: []string{AuditFactorsReset}}))
	if len(entries) != 1 || entries[0].Detail["user"] != sara.ID {
		t.Fatalf("the reset in the audit log: %+v", entries)
	}
}

// Admins must set up a second factor before anything else by default; everyone must under
// "all"; nobody under "none".
func TestSecondFactorRequirement(t *testing.T) {
	cheapPasswords(t)
	f := newFixture(t)
	const good = "korrekt hest batteri"
	ada := must(f.store.AddUser(f.ctx, "Ada Admin", []string{"admin"}))
	for _, name := range []string{ada.Name, "Sara Caseworker"} {
		mustDo(t, f.store.SetPassword(f.ctx, Actor{}, name, good))
	}
	for _, tt := range []struct{ req, ada, sara string }{
		{"", StageEnrol, ""}, {FactorsForAdmins, StageEnrol, ""}, {FactorsForAll, StageEnrol, StageEnrol}, {FactorsForNone, "", ""},
	} {
		f.store.SecondFactor = tt.req
		if a, s := must(f.store.SignIn(f.ctx, ada.Name, good)).Next, must(f.store.SignIn(f.ctx, "Sara Caseworker", good)).Next; a != tt.ada || s != tt.sara {
			t.Errorf("requirement %q: admin %q, caseworker %q; want %q, %q", tt.req, a, s, tt.ada, tt.sara)
		}
	}
	// Setting up the factor from an enrolment session makes it a full one.
	f.store.SecondFactor = FactorsForAdmins
	token, sess := must2(f.store.StartSession(f.ctx, must(f.store.SignIn(f.ctx, ada.Name, good))))
	if sess.Stage != StageEnrol {
		t.Fatalf("stage %q", sess.Stage)
	}
	e := must(f.store.StartTOTP(f.ctx, ada.ID))
	_ = must(f.store.ConfirmTOTP(f.ctx, token, ada.ID, f.code(t, e.Secret)))
	if s := must(f.store.Session(f.ctx, token)); s.Stage != "" {
		t.Fatalf("after enrolment the stage is %q", s.Stage)
	}
}
