package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// cheapPasswords lowers Argon2id's cost for the test (the stored hash carries its parameters).
func cheapPasswords(t testing.TB) {
	saved := passwordParams
	passwordParams = argonParams{time: 1, memoryKiB: 64, threads: 1}
	t.Cleanup(func() { passwordParams = saved })
}

func kinds(t *testing.T, f *fixture, since int64) []string {
	t.Helper()
	var out []string
	for _, e := range must(f.store.AuditEntries(f.ctx, AuditFilter{})) {
		if e.ID > since {
			out = append(out, e.Kind+":"+e.Detail["reason"])
		}
	}
	return out
}

func TestSignInLocksAfterRepeatedFailures(t *testing.T) {
	cheapPasswords(t)
	f := newFixture(t)
	const good = "korrekt hest batteri"
	mustDo(t, f.store.SetPassword(f.ctx, Actor{}, "Sara Caseworker", good))
	if err := f.store.SetPassword(f.ctx, Actor{}, "Sara Caseworker", "short"); syncer.ErrorCode(err) != syncer.CodeInvalid {
		t.Fatalf("a short password: %v", err)
	}
	head := must(f.store.VerifyAudit(f.ctx)).HeadID
	u := must(f.store.SignIn(f.ctx, "Sara Caseworker", good))
	if u.Name != "Sara Caseworker" {
		t.Fatalf("signed in as %+v", u)
	}
	if _, err := f.store.SignIn(f.ctx, "Nobody", good); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("an unknown user: %v", err)
	}
	for i := 0; i < SignInMaxFailures; i++ {
		f.clock.Add(time.Minute)
		if _, err := f.store.SignIn(f.ctx, "Sara Caseworker", "wrong password "+strings.Repeat("!", i)); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	// Locked now, even to the right password.
	_, err := f.store.SignIn(f.ctx, "Sara Caseworker", good)
	if syncer.ErrorCode(err) != syncer.CodePermissionDenied || !strings.Contains(syncer.ErrorMessage(err), "locked until") {
		t.Fatalf("sixth attempt: %v", err)
	}
	f.clock.Add(SignInLockout + time.Second)
	if _, err := f.store.SignIn(f.ctx, "Sara Caseworker", good); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	got := kinds(t, f, head)
	want := []string{"sign_in:", "sign_in.failed:unknown user"}
	for range SignInMaxFailures {
		want = append(want, "sign_in.failed:wrong password")
	}
	want = append(want, "sign_in.failed:locked", "sign_in:")
	if !slices.Equal(got, want) {
		t.Fatalf("audit %v\nwant %v", got, want)
	}
	for _, e := range must(f.store.AuditEntries(f.ctx, AuditFilter{})) {
		if strings.Contains(e.Kind+e.Purpose+encodeDetail(e.Detail), "password ") {
			t.Fatalf("the audit log holds a typed password: %+v", e)
		}
	}
	// The stored hash is Argon2id with its parameters.
	var hash string
	mustDo(t, f.store.read.QueryRow(`SELECT password_hash FROM users WHERE name = 'Sara Caseworker'`).Scan(&hash))
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(hash, good) {
		t.Fatalf("stored hash %q", hash)
	}
}

func TestDisabledUserCannotSignIn(t *testing.T) {
	cheapPasswords(t)
	f := newFixture(t)
	mustDo(t, f.store.SetPassword(f.ctx, Actor{}, "Kim Consultant", "a long enough password"))
	_ = must(f.store.SetUserDisabled(f.ctx, Actor{}, "Kim Consultant", true))
	if _, err := f.store.SignIn(f.ctx, "Kim Consultant", "a long enough password"); syncer.ErrorCode(err) != syncer.CodePermissionDenied {
		t.Fatalf("a disabled user signed in: %v", err)
	}
}

func TestScopeChangesAreAuditedAndDecidePull(t *testing.T) {
	f := newFixture(t)
	lea := must(f.store.AddUser(f.ctx, "Lea", []string{"consultant", "coordinator"}))
	if err := f.store.AssignCase(f.ctx, Actor{}, f.caseID, "Lea", "caseworker"); syncer.ErrorCode(err) != syncer.CodeInvalid {
		t.Fatalf("assigning a role the user does not hold: %v", err)
	}
	mustDo(t, f.store.AssignCase(f.ctx, Actor{}, f.caseID, "Lea", "coordinator"))
	leaTablet := f.enroll(lea)
	// A coordinator plans online; their devices hold no case records (syncer.Rules).
	if p := must(f.store.Pull(f.ctx, leaTablet, &v1.PullRequest{})); len(p.CompleteCases) != 0 || len(p.Changes) != 0 {
		t.Fatalf("an assigned coordinator's tablet holds the case: %v, %d changes", p.CompleteCases, len(p.Changes))
	}
	mustDo(t, f.store.AssignCase(f.ctx, Actor{}, f.caseID, "Lea", "consultant"))
	first := must(f.store.Pull(f.ctx, leaTablet, &v1.PullRequest{}))
	if !slices.Contains(first.CompleteCases, f.caseID) {
		t.Fatalf("an assigned consultant does not get the case: %v", first.CompleteCases)
	}
	mustDo(t, f.store.UnassignCase(f.ctx, Actor{}, f.caseID, "Lea"))
	if p := must(f.store.Pull(f.ctx, leaTablet, &v1.PullRequest{Cursor: first.NextCursor, KnownCases: []string{f.caseID}})); !slices.Equal(p.PurgeCases, []string{f.caseID}) {
		t.Fatalf("an unassigned user's tablet is not told to purge: %v", p.PurgeCases)
	}
	mustDo(t, f.store.CloseCase(f.ctx, Actor{}, f.caseID))
	if p := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: first.NextCursor, KnownCases: []string{f.caseID}})); !slices.Equal(p.PurgeCases, []string{f.caseID}) {
		t.Fatalf("a closed case is not purged: %v", p.PurgeCases)
	}
	if err := f.store.AssignCase(f.ctx, Actor{}, f.caseID, "Lea", "consultant"); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("assigning to a closed case: %v", err)
	}
	var got []string
	for _, e := range must(f.store.AuditEntries(f.ctx, AuditFilter{CaseID: f.caseID, Kinds: []string{AuditCaseAssigned, AuditCaseUnassigned, AuditCaseClosed}})) {
		got = append(got, e.Kind)
		if e.Detail["via"] != "command line" {
			t.Fatalf("entry without its channel: %+v", e)
		}
	}
	if want := []string{AuditCaseAssigned, AuditCaseAssigned, AuditCaseUnassigned, AuditCaseClosed}; !slices.Equal(got, want) {
		t.Fatalf("scope audit %v, want %v", got, want)
	}
}

func TestWipeConfirmationIsSignedAndOnlyFromRevokedDevices(t *testing.T) {
	f := newFixture(t)
	kim := must(f.store.UserByName(f.ctx, "Kim Consultant"))
	code, _, err := f.store.NewEnrollmentCode(f.ctx, kim.Name)
	mustDo(t, err)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dev, _, err := f.store.Enroll(f.ctx, code, pub, "lost one")
	mustDo(t, err)
	confirm := func(key ed25519.PrivateKey, nonce string, unsent int64) error {
		at := f.clock.Now().UnixMilli()
		return f.store.ConfirmWipe(f.ctx, dev, nonce, at, unsent, ed25519.Sign(key, syncer.WipeSigningPayload(dev, nonce, at, unsent)))
	}
	if err := confirm(priv, "n1", 3); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("an active device confirmed a wipe: %v", err)
	}
	_ = must(f.store.RevokeDevice(f.ctx, Actor{}, dev, DeviceLost))
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if err := confirm(other, "n2", 3); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a confirmation signed by another key: %v", err)
	}
	mustDo(t, confirm(priv, "n3", 3))
	if err := confirm(priv, "n3", 3); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a replayed confirmation: %v", err)
	}
	d := must(f.store.Device(f.ctx, dev))
	if d.Status != DeviceLost || d.RevokedMs == 0 || d.WipedMs == 0 {
		t.Fatalf("device after its wipe: %+v", d)
	}
	entries := must(f.store.AuditEntries(f.ctx, AuditFilter{DeviceID: dev}))
	last := entries[len(entries)-1]
	if last.Kind != AuditWipeConfirmed || last.Detail["unsent_changes_refused"] != "3" || last.Detail["revocation"] != "lost" {
		t.Fatalf("wipe audit entry %+v", last)
	}
	if _, err := f.store.RevokeDevice(f.ctx, Actor{}, dev, DeviceRetired); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("a lost device retired: %v", err)
	}
}

// Every RPC in the protos has an authorization rule; a procedure of the protos without one is
// refused (closed until it gets a rule), before any token is looked at; a procedure the protos
// do not have is Unimplemented.
func TestEveryProcedureHasAnAuthorizationRule(t *testing.T) {
	protoregistry.GlobalFiles.RangeFilesByPackage("samvaer.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				proc := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				if _, ok := rules[proc]; !ok {
					t.Errorf("%s has no authorization rule", proc)
				}
			}
		}
		return true
	})
	s := &Server{}
	for _, proc := range []string{"/samvaer.v1.NoService/Nothing", "/samvaer.v1.SyncService/Nothing", "Pull", ""} {
		if _, err := s.authorize(context.Background(), proc, "Bearer x"); syncer.ErrorCode(err) != syncer.CodeUnimplemented {
			t.Fatalf("a procedure the protos do not have (%q): %v", proc, err)
		}
	}
	const pull = "/samvaer.v1.SyncService/Pull"
	saved := rules[pull]
	delete(rules, pull)
	defer func() { rules[pull] = saved }()
	if _, err := s.authorize(context.Background(), pull, "Bearer x"); syncer.ErrorCode(err) != syncer.CodePermissionDenied {
		t.Fatalf("a procedure without a rule: %v", err)
	}
}

// checkPassword decodes stored hashes: whatever it is given, it does not panic, and it accepts
// only the password a well-formed hash was made from.
func FuzzCheckPassword(f *testing.F) {
	cheapPasswords(f)
	good, err := hashPassword("the right password", passwordParams)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, "", "$argon2id$", "$argon2id$v=19$m=64,t=1,p=1$$", "$argon2id$v=19$m=0,t=0,p=0$AA$AA",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), strings.Replace(good, "m=64", "m=99999999", 1)} {
		f.Add(seed, "the right password")
	}
	f.Fuzz(func(t *testing.T, stored, password string) {
		if checkPassword(password, stored) && stored != good {
			// Only a real hash of this password may match.
			if !strings.HasPrefix(stored, "$argon2id$v=19$") {
				t.Fatalf("%q matched %q", stored, password)
			}
		}
		if password != "the right password" && checkPassword(password, good) {
			t.Fatalf("%q matched the hash of another password", password)
		}
	})
}

// Verify decodes tokens: whatever it is given, it does not panic and refuses anything it did not
// sign.
func FuzzVerifyToken(f *testing.F) {
	fx := newFixture(f)
	tokens := must(NewTokens(fx.ctx, fx.store))
	for _, seed := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat(".", 5000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := tokens.Verify(raw); err == nil {
			t.Fatalf("accepted %q", raw)
		}
	})
}

// A user who no longer holds the consultant role (their roles are read at every call) has the
// cases they were a consultant of purged from their tablets, and what they push for them is
// refused for their part, though the old membership row is still there.
func TestAConsultantRoleTakenAwayPurgesTheCase(t *testing.T) {
	f := newFixture(t)
	first := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{}))
	if !slices.Contains(first.CompleteCases, f.caseID) {
		t.Fatalf("the consultant does not hold the case: %v", first.CompleteCases)
	}
	demoted := f.tablet
	demoted.Roles = []string{"caseworker"}
	p := must(f.store.Pull(f.ctx, demoted, &v1.PullRequest{Cursor: first.NextCursor, KnownCases: []string{f.caseID}}))
	if !slices.Equal(p.PurgeCases, []string{f.caseID}) || len(p.Changes) != 0 || len(p.Snapshot) != 0 {
		t.Fatalf("a user without the consultant role keeps the case: purge %v, %d changes", p.PurgeCases, len(p.Changes))
	}
	res := must(f.store.Push(f.ctx, demoted, []*v1.Change{f.observation(1, "Ida smiler.")}))
	if res[0].Result != v1.Result_RESULT_REJECTED || !strings.Contains(res[0].Reason, "only a consultant of the case may create an observation") {
		t.Fatalf("a user without the consultant role wrote an observation: %v", res[0])
	}
}
