package server

import (
	"strings"
	"testing"

	"github.com/samvaer/sync/syncer"
)

// A person at the identity provider is matched by the subject an admin set, one user to a
// subject; an unknown subject and a disabled user are refused with the same words, each a
// failed sign-in; the subject itself never goes into the audit log.
func TestOIDCSubjects(t *testing.T) {
	f := newFixture(t)
	sara := must(f.store.SetOIDCSubject(f.ctx, Actor{}, "Sara Caseworker", " sara@kommune.dk "))
	if sara.OIDCSubject != "sara@kommune.dk" {
		t.Fatalf("subject %q", sara.OIDCSubject)
	}
	if _, err := f.store.SetOIDCSubject(f.ctx, Actor{}, "Kim Consultant", "sara@kommune.dk"); syncer.ErrorCode(err) != syncer.CodeAlreadyExists {
		t.Fatalf("a second user with Sara's subject: %v", err)
	}
	if _, err := f.store.SetOIDCSubject(f.ctx, Actor{}, "Kim Consultant", "two\nlines"); syncer.ErrorCode(err) != syncer.CodeInvalid {
		t.Fatalf("a subject of two lines: %v", err)
	}
	_ = must(f.store.SetOIDCSubject(f.ctx, Actor{}, "Kim Consultant", "kim@kommune.dk"))
	if u := must(f.store.SignInOIDC(f.ctx, "sara@kommune.dk", "10.0.0.1")); u.ID != sara.ID {
		t.Fatalf("signed in as %+v", u)
	}
	_ = must(f.store.SetUserDisabled(f.ctx, Actor{}, "Kim Consultant", true))
	_, errDisabled := f.store.SignInOIDC(f.ctx, "kim@kommune.dk", "10.0.0.1")
	_, errUnknown := f.store.SignInOIDC(f.ctx, "nobody@kommune.dk", "10.0.0.1")
	_, errEmpty := f.store.SignInOIDC(f.ctx, "", "10.0.0.1")
	if syncer.ErrorCode(errDisabled) != syncer.CodePermissionDenied || syncer.ErrorMessage(errDisabled) != syncer.ErrorMessage(errUnknown) || errEmpty == nil {
		t.Fatalf("disabled %v, unknown %v, empty %v: they must read the same", errDisabled, errUnknown, errEmpty)
	}
	// Cleared, Sara's subject signs nobody in.
	_ = must(f.store.SetOIDCSubject(f.ctx, Actor{}, sara.ID, ""))
	if _, err := f.store.SignInOIDC(f.ctx, "sara@kommune.dk", ""); err == nil {
		t.Fatal("a cleared subject still signs in")
	}
	var got []string
	for _, e := range must(f.store.AuditEntries(f.ctx, AuditFilter{Kinds: []string{AuditSignIn, AuditSignInFailed, AuditOIDCSubjectSet}})) {
		got = append(got, e.Kind+":"+e.Detail["reason"]+e.Detail["subject"])
		for _, v := range e.Detail {
			if v == "sara@kommune.dk" || v == "kim@kommune.dk" {
				t.Fatalf("a subject in the audit log: %+v", e)
			}
		}
	}
	want := "user.oidc_subject_set:set user.oidc_subject_set:set sign_in: sign_in.failed:user disabled sign_in.failed:unknown subject sign_in.failed:unknown subject user.oidc_subject_set:cleared sign_in.failed:unknown subject"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("audit\n got %s\nwant %s", s, want)
	}
}
