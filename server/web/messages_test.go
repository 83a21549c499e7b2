package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/reportpdf"
	"github.com/samvaer/sync/syncer"
)

// Every word a page shows comes from the catalog: each message id the templates, the pages and
// the server's errors name exists (in Danish and English alike, which NewCatalog checks), so no
// page can show an id or fall back to English.
func TestEveryMessageIDExists(t *testing.T) {
	cat, err := i18n.NewCatalog(messageFiles, reportpdf.Messages)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // id → where it is named
	scan := func(root string, exts []string, patterns ...*regexp.Regexp) {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != root && root == ".." && (d.Name() == "web" || d.Name() == "reportpdf") {
				return fs.SkipDir // scanned as "." (web) or with its own catalog (reportpdf)
			}
			if d.IsDir() || !strings.HasSuffix(path, exts[0]) && (len(exts) < 2 || !strings.HasSuffix(path, exts[1])) || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, re := range patterns {
				for _, m := range re.FindAllStringSubmatch(string(src), -1) {
					ids[m[1]] = path
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	literal := `"([a-z_]+(?:\.[a-z_ ]+)+)"`
	scan(".", []string{".html", ".go"},
		regexp.MustCompile(`\{\{-? ?t `+literal), regexp.MustCompile(`\(t `+literal), regexp.MustCompile(`\{\{n `+literal),
		regexp.MustCompile(`\bl\.[TN]\(`+literal), regexp.MustCompile(`\.With\(`+literal))
	scan("..", []string{".go"}, regexp.MustCompile(`\.With\(`+literal))
	if len(ids) < 200 {
		t.Fatalf("found only %d message ids; the scan is broken", len(ids))
	}
	for id, where := range ids {
		if strings.HasSuffix(id, "_") || strings.HasSuffix(id, ".") {
			continue // a prefix, completed at run time: see dynamic below
		}
		if !cat.Has(id) {
			t.Errorf("%s names %q, which no message file defines", where, id)
		}
	}
	// The ids made of a prefix and a value: every value they can take.
	var dynamic []string
	for _, r := range server.Roles {
		dynamic = append(dynamic, "role."+r)
	}
	for _, k := range []string{syncer.KindSupervised, syncer.KindSupported} {
		dynamic = append(dynamic, "kind."+k, "pdf.kind."+k)
	}
	for _, s := range []string{"new", "submitted", "addendum", "overdue", "acknowledged", "draft"} {
		dynamic = append(dynamic, "inbox.state."+s)
	}
	for _, f := range inboxFilters {
		dynamic = append(dynamic, "inbox.filter."+cmpOr(f, "all"))
	}
	// Every code a page shows an error page for has a title.
	for _, code := range []syncer.Code{syncer.CodeInvalid, syncer.CodeNotFound, syncer.CodeUnauthenticated,
		syncer.CodePermissionDenied, syncer.CodeFailedPrecondition, syncer.CodeAlreadyExists,
		syncer.CodeResourceExhausted, syncer.CodeUnavailable, syncer.CodeInternal} {
		dynamic = append(dynamic, "error.title."+string(code))
	}
	for _, n := range notices {
		dynamic = append(dynamic, "notice."+n)
	}
	for _, k := range syncer.ReportSections {
		dynamic = append(dynamic, "section."+k)
	}
	for _, c := range syncer.DefaultChecklist {
		dynamic = append(dynamic, "checklist."+c.Key, "phase."+c.Phase)
	}
	for _, s := range []string{server.DeviceActive, server.DeviceLost, server.DeviceRetired} {
		dynamic = append(dynamic, "devices.status."+s)
	}
	for _, as := range []string{"lost", "retired"} {
		for _, p := range []string{"title", "question", "effect1", "effect2", "confirm", "done"} {
			dynamic = append(dynamic, "revoke."+as+"."+p)
		}
	}
	for _, w := range []string{"case", "report"} {
		dynamic = append(dynamic, "purpose.title."+w, "purpose.why."+w, "purpose.open."+w, "purpose.missing."+w)
	}
	for _, p := range purposes {
		dynamic = append(dynamic, p.ID)
	}
	for _, k := range []string{server.AuditDeviceEnrolled, server.AuditTokenRefused, server.AuditRequestRefused, server.AuditDeviceRevoked,
		server.AuditWipeConfirmed, server.AuditPINFailed, server.AuditUserDisabled, server.AuditUserEnabled, server.AuditPasswordSet,
		server.AuditSignIn, server.AuditSignInFailed, server.AuditCaseAssigned, server.AuditCaseUnassigned, server.AuditCaseClosed,
		server.AuditCaseRead, server.AuditSigningKeyRotate} {
		dynamic = append(dynamic, "audit.kind."+k)
	}
	for _, f := range []string{"decision_from", "decision_to", "pause"} {
		dynamic = append(dynamic, "error.date_"+f)
	}
	for _, id := range dynamic {
		if !cat.Has(id) {
			t.Errorf("no message file defines %q", id)
		}
	}
}

func cmpOr(s, or string) string {
	if s == "" {
		return or
	}
	return s
}
