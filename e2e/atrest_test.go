package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/samvaer/sync/clientlib/app"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The markers are written where a person's words go, each through the API that writes it: the
// case's people and placement, the case's decision, conditions, goals and the child's wishes
// (server), the visit's place and who was present, observations, report sections, the other side
// of a conflict, addenda (signed on a tablet, filed on the server, and a draft the server made
// from an offline edit that reached a submitted report) and a parent's comment.
const (
	mChild          = "QXCHILDIda"
	mParent         = "QXPARENTMette"
	mPlace          = "QXPLACERosenvej12"
	mObservation    = "QXOBSERVATION"
	mOpening        = "QXREPORTOPENING"
	mOther          = "QXREPORTOTHER"
	mConflict       = "QXCONFLICT"
	mRelative       = "QXRELATIVEMormorGrethe"
	mPlacement      = "QXPLACEMENTPlejefamilieSkovvej7"
	mPurpose        = "QXDECISIONPURPOSE"
	mConditions     = "QXCONDITIONS"
	mGoal           = "QXGOAL"
	mWish           = "QXWISH"
	mPresent        = "QXPRESENTMormorGrethe"
	mSubmitted      = "QXREPORTSUBMITTED"
	mAddendumSigned = "QXADDENDUMSIGNED"
	mAddendumServer = "QXADDENDUMSERVER"
	mAddendumDraft  = "QXADDENDUMDRAFT"
	mParentComment  = "QXPARENTCOMMENT"
	mAccessPurpose  = "QXACCESSPURPOSE" // the purpose a person gives for reading, in the access log
	// Written through the consultant's app (its pages, in the app's process).
	mAppObservation = "QXAPPOBSERVATION"
	mAppSection     = "QXAPPSECTION"
	mAppPresent     = "QXAPPPRESENT"
	mAppAddendum    = "QXAPPADDENDUM"
)

var markers = []string{mChild, mParent, mPlace, mObservation, mOpening, mOther, mConflict, mRelative, mPlacement,
	mPurpose, mConditions, mGoal, mWish, mPresent, mSubmitted, mAddendumSigned, mAddendumServer, mAddendumDraft, mParentComment, mAccessPurpose}

var appMarkers = []string{mAppObservation, mAppSection, mAppPresent, mAppAddendum}

// leaks returns "file: marker" for every marker found in a file under the directories or in the
// extra texts (logs).
func leaks(t *testing.T, dirs []string, texts map[string]string) []string {
	t.Helper()
	return leaksOf(t, markers, dirs, texts)
}

// leaksOf is leaks for a list of markers.
func leaksOf(t *testing.T, markers []string, dirs []string, texts map[string]string) []string {
	t.Helper()
	var found []string
	scan := func(name string, b []byte) {
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				found = append(found, name+": "+m)
			}
		}
	}
	files := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			scan(path, b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 2*len(dirs) {
		t.Fatalf("only %d files read under %v", files, dirs)
	}
	for name, text := range texts {
		scan(name, []byte(text))
	}
	return found
}

// Everything a person wrote about a child is unreadable in every file the server and the tablets
// keep — databases, WAL, key files — and in the server's logs: while they run (the WAL holding
// the latest writes) and after they stop. Every marker is read back first — on the server, and
// on the tablets, which also hold exactly the server's state — so the markers really passed
// through every store.
func TestNothingWrittenIsReadableAtRest(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	for _, u := range [][2]string{{"Sara", "caseworker"}, {"Kim", "consultant"}, {"Lea", "consultant"}} {
		_, err := st.AddUser(ctx, u[0], []string{u[1]})
		mustDo(t, err)
	}
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{mChild}, Parents: []string{mParent}, Caseworker: "Sara",
		Relatives: []string{mRelative}, Placement: mPlacement + " Skovvej 7"})
	mustDo(t, err)
	start := time.Now().Add(-time.Hour)
	_, err = st.SetDecision(ctx, nil, caseID, server.Decision{Kind: syncer.KindSupervised, FromMs: start.Add(-24 * time.Hour).UnixMilli(),
		ToMs: start.Add(30 * 24 * time.Hour).UnixMilli(), Purpose: mPurpose + " that Ida keeps her bond with her mother."})
	mustDo(t, err)
	_, _, err = st.SetConditions(ctx, nil, caseID, mConditions+" Mother arrives sober.")
	mustDo(t, err)
	_, err = st.AddGoal(ctx, nil, caseID, mGoal+" Mother reads Ida's signals.")
	mustDo(t, err)
	kids, err := st.ChildIDs(ctx, caseID)
	mustDo(t, err)
	if len(kids) != 1 {
		t.Fatalf("child ids %v", kids)
	}
	_, err = st.AddWish(ctx, nil, caseID, kids[0], mWish+" Ida wants her grandmother there.", true, 0)
	mustDo(t, err)
	visitID, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "Kim", Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Place: mPlace})
	mustDo(t, err)
	visit2, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "Lea", Kind: "supervised", Start: start.Add(24 * time.Hour), End: start.Add(26 * time.Hour), Place: "Rum 2"})
	mustDo(t, err)

	a, b := enrollTablet(t, s, "Kim"), enrollTablet(t, s, "Lea")
	for _, tb := range []*tablet{a, b} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}
	_, err = a.Observe(ctx, visitID, mObservation+" Ida runs to her mother.")
	mustDo(t, err)
	mustDo(t, a.SetPresent(ctx, visitID, mPresent+" (grandmother)\nMette (mother)"))
	mustDo(t, a.SetReportSection(ctx, visitID, "opening", mOpening+" Mother arrives on time."))
	// Both tablets write the same section offline: one side becomes a conflict record.
	mustDo(t, a.SetReportSection(ctx, visitID, "ending", mOther+" the goodbye at the door."))
	mustDo(t, b.SetReportSection(ctx, visitID, "ending", mConflict+" the child cries at the goodbye."))
	// Lea submits the second visit's report while Kim, offline, edits it: Kim's edit reaches a
	// submitted report and the server makes it an addendum draft.
	mustDo(t, b.SetReportSection(ctx, visit2, "interaction", mSubmitted+" Mother reads a book to Ida."))
	mustDo(t, b.Submit(ctx, visit2))
	mustDo(t, a.SetReportSection(ctx, visit2, "interaction", mAddendumDraft+" Ida shows her mother a drawing."))
	for range 2 {
		for _, tb := range []*tablet{b, a} {
			_, err := tb.Sync(ctx)
			mustDo(t, err)
		}
	}
	// A signed addendum from a tablet, one filed on the server, and a parent's comment.
	_, err = b.AddAddendum(ctx, visit2, "context", mAddendumSigned+" the visit moved to the garden.")
	mustDo(t, err)
	_, err = b.Sync(ctx)
	mustDo(t, err)
	reportID := visitOn(t, b, visit2).ReportID
	sara, err := st.UserByName(ctx, "Sara")
	mustDo(t, err)
	saraID := server.Identity{UserID: sara.ID, DeviceID: syncer.NewID(), Roles: sara.Roles}
	_, err = st.AddAddendum(ctx, saraID, reportID, "", mAddendumServer+" the grandmother was invited by the caseworker.")
	mustDo(t, err)
	_, err = st.AddParentComment(ctx, saraID, reportID, mParentComment+" I did not cry, I was happy.", 0)
	mustDo(t, err)
	for _, tb := range []*tablet{a, b} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}

	// The words arrived: the server reads every marker back, ...
	const purpose = "at-rest test " + mAccessPurpose
	var onServer strings.Builder
	cv, err := st.GetCase(ctx, saraID, caseID, purpose)
	mustDo(t, err)
	for _, r := range cv.Records {
		for _, v := range r.Fields {
			onServer.WriteString(v + "\x00")
		}
	}
	rep, err := st.GetReport(ctx, saraID, reportID, purpose)
	mustDo(t, err)
	for _, sec := range rep.Sections {
		onServer.WriteString(sec.Text + "\x00")
	}
	// The first visit's report is still a draft, which its consultant reads.
	kim, err := st.UserByName(ctx, "Kim")
	mustDo(t, err)
	draft, err := st.GetReport(ctx, server.Identity{UserID: kim.ID, DeviceID: a.DeviceID(), Roles: kim.Roles}, visitOn(t, a, visitID).ReportID, purpose)
	mustDo(t, err)
	for _, sec := range draft.Sections {
		onServer.WriteString(sec.Text + "\x00")
	}
	for _, o := range draft.Observations {
		onServer.WriteString(o.Text + "\x00")
	}
	// A draft addendum is read by the case's consultants only, like a draft report.
	asConsultant, err := st.GetReport(ctx, server.Identity{UserID: kim.ID, DeviceID: a.DeviceID(), Roles: kim.Roles}, reportID, purpose)
	mustDo(t, err)
	for _, d := range rep.Addenda {
		if d.State == syncer.StateDraft {
			t.Fatal("the caseworker was given a draft addendum")
		}
	}
	drafts := 0
	for _, d := range append(asConsultant.Addenda, rep.ParentComments...) {
		onServer.WriteString(d.Text + "\x00")
		if d.State == syncer.StateDraft && strings.HasPrefix(d.Text, mAddendumDraft) {
			drafts++
		}
	}
	if drafts != 1 {
		t.Fatalf("the offline edit of the submitted report is not an addendum draft on the server: %+v", asConsultant.Addenda)
	}
	// ... and the tablets hold the same state as the server (the digest covers every record of
	// the case, the parents, relatives, placement and the parent's comment too) and show what
	// their views show: the case, the visits with their addenda, the conflict.
	want, err := st.CaseDigest(ctx, caseID)
	mustDo(t, err)
	for name, tb := range map[string]*tablet{"kim": a, "lea": b} {
		if got, err := tb.Digest(ctx, caseID); err != nil || got != want {
			t.Fatalf("%s digest %s, server %s (%v)", name, got, want, err)
		}
	}
	var onTablet strings.Builder
	c, err := b.Case(ctx, caseID)
	mustDo(t, err)
	for _, k := range c.Children {
		onTablet.WriteString(k.Name + "\x00")
	}
	for _, d := range c.Decisions {
		onTablet.WriteString(d.Purpose + "\x00")
	}
	onTablet.WriteString(c.Conditions.Text + "\x00")
	for _, g := range c.Goals {
		onTablet.WriteString(g.Text + "\x00")
	}
	for _, w := range c.Wishes {
		onTablet.WriteString(w.Text + "\x00")
	}
	visits, err := b.Visits(ctx)
	mustDo(t, err)
	for _, v := range visits {
		onTablet.WriteString(v.Place + "\x00" + v.Present + "\x00")
		for _, o := range v.Observations {
			onTablet.WriteString(o.Text + "\x00")
		}
		for _, r := range v.Report {
			onTablet.WriteString(r.Text + "\x00")
		}
		for _, d := range v.Addenda {
			onTablet.WriteString(d.Text + "\x00")
		}
	}
	conflicts, err := b.Conflicts(ctx)
	mustDo(t, err)
	for _, c := range conflicts {
		onTablet.WriteString(c.CurrentValue + "\x00" + c.OtherValue + "\x00")
	}
	// The tablets' views do not show the parents, relatives, placement or a parent's comment;
	// the digest above proves the tablets hold them.
	// The server's reads do not show conflict records: the side kept in the report must be there,
	// and the digest proves the server holds the conflict the tablet shows.
	// The access log's purposes stay on the server.
	logged, err := st.AuditEntries(ctx, server.AuditFilter{CaseID: caseID, Kinds: []string{server.AuditCaseRead}})
	mustDo(t, err)
	for _, e := range logged {
		onServer.WriteString(e.Purpose + "\x00")
	}
	notShown := []string{mParent, mRelative, mPlacement, mParentComment, mAccessPurpose}
	if !strings.Contains(onServer.String(), mOther) && !strings.Contains(onServer.String(), mConflict) {
		t.Errorf("the server reads back neither side of the conflict")
	}
	for _, m := range markers {
		if m != mOther && m != mConflict && !strings.Contains(onServer.String(), m) {
			t.Errorf("the server does not read back %s; the test would prove nothing", m)
		}
		if !slices.Contains(notShown, m) && !strings.Contains(onTablet.String(), m) {
			t.Errorf("%s did not reach the other tablet; the test would prove nothing", m)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Sara's authenticator app: its secret is sealed, her recovery codes are only hashed; the
	// server checks a code made from the secret, so the secret is there.
	enrolment, err := st.StartTOTP(ctx, sara.ID)
	mustDo(t, err)
	code, err := totp.GenerateCode(enrolment.Secret, time.Now())
	mustDo(t, err)
	recovery, err := st.ConfirmTOTP(ctx, "", sara.ID, code)
	mustDo(t, err)
	secrets := append(slices.Clone(markers), enrolment.Secret, recovery[0], strings.ReplaceAll(recovery[1], "-", ""))

	dirs := append(serverFiles(t, s.dir), a.home, b.home)
	wal := 0
	for _, dir := range dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, "*-wal"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Size() > 0 {
				wal++
			}
		}
	}
	if wal == 0 {
		t.Fatal("no WAL holds data while running; the check would miss it")
	}
	if found := leaksOf(t, secrets, dirs, map[string]string{"server log": s.logs.String()}); len(found) > 0 {
		t.Fatalf("readable while running:\n%s", strings.Join(found, "\n"))
	}

	mustDo(t, a.Close())
	mustDo(t, b.Close())
	s.shutdown()
	dirs = append(serverFiles(t, s.dir), a.home, b.home)
	if found := leaksOf(t, secrets, dirs, map[string]string{"server log": s.logs.String()}); len(found) > 0 {
		t.Fatalf("readable after closing:\n%s", strings.Join(found, "\n"))
	}
}

// What she writes in the consultant's app — an observation with a quick mark, a report section
// saved as she types, who was present, an addendum after submitting — is unreadable in every
// file of the tablet's home and the server's data directory and in the app's and the server's
// logs, while both run and after; each is read back on the app's page first, and on the server
// after the app synced on its own.
func TestNothingWrittenInTheAppIsReadableAtRest(t *testing.T) {
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	_, err := tb.Sync(context.Background())
	mustDo(t, err)
	a := startApp(t, tb, app.Config{PushDelay: 100 * time.Millisecond})
	br := newAppBrowser(t, a.base)
	start, err := url.Parse(a.StartURL())
	mustDo(t, err)
	br.get(start.RequestURI())
	_, page := br.get("/")
	csrf := csrfOf(t, page)
	res, _ := br.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "unlock")
	visit := "/visits/" + w.visitID
	for _, post := range []struct {
		path   string
		form   url.Values
		script bool
	}{
		{visit + "/observations", url.Values{"text": {mAppObservation + " Ida græder."}, "mark": {"incident"}}, false},
		{visit + "/sections/opening", url.Values{"text": {mAppSection + " Mor kommer til tiden."}}, true},
		{visit + "/present", url.Values{"text": {mAppPresent + " Mormor Grethe"}}, true},
		{visit + "/submit", url.Values{}, false},
		{visit + "/addenda", url.Values{"text": {mAppAddendum + " Samværet sluttede 11.50."}}, false},
	} {
		post.form.Set("csrf", csrf)
		var res *http.Response
		if post.script {
			res, _ = br.post(post.path, post.form, "X-Requested-With", "samvaer")
			wantStatus(t, res, http.StatusOK, post.path)
		} else {
			res, _ = br.post(post.path, post.form)
			wantStatus(t, res, http.StatusSeeOther, post.path)
		}
	}
	_, page = br.get(visit)
	for _, m := range appMarkers {
		if !strings.Contains(page, m) {
			t.Fatalf("%s is not on the app's page; the test would prove nothing", m)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep, err := w.srv.Store().Reports(context.Background(), nil, w.caseID, "")
		mustDo(t, err)
		if len(rep) == 1 && rep[0].State == syncer.StateSubmitted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the app did not sync the submitted report on its own")
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs := func() map[string]string {
		return map[string]string{"app log": a.logs.String(), "server log": w.srv.logs.String()}
	}
	dirs := append(serverFiles(t, w.srv.dir), tb.home)
	if found := leaksOf(t, appMarkers, dirs, logs()); len(found) > 0 {
		t.Fatalf("readable while the app runs:\n%s", strings.Join(found, "\n"))
	}
	a.Lock()
	w.srv.shutdown()
	dirs = append(serverFiles(t, w.srv.dir), tb.home)
	if found := leaksOf(t, appMarkers, dirs, logs()); len(found) > 0 {
		t.Fatalf("readable after locking:\n%s", strings.Join(found, "\n"))
	}
}
