package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/insightpdf"
	"github.com/samvaer/sync/server/web"
	"github.com/samvaer/sync/syncer"
)

// optionalTime parses an RFC 3339 flag value; "" is 0.
func optionalTime(flagName, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, usageError("--%s must be a time like 2026-11-28T10:00:00+01:00.", flagName)
	}
	return t.UnixMilli(), nil
}

// caseEdit runs `case decision|conditions|goal|wish|member`.
func (c *AdminCommand) caseEdit(ctx context.Context, what string, args []string) error {
	fs := subFlags("case "+what, c)
	caseID := fs.String("case", "", "the case id")
	text := fs.String("text", "", "the text")
	kind := fs.String("kind", "", "supervised (§ 105) or supported (§ 104)")
	consentParents := fs.Bool("consent-parents", false, "the parents consented to written descriptions")
	youngPerson := fs.Bool("young-person", false, "a child of the case is 15 or over")
	consentYoung := fs.Bool("consent-young-person", false, "the young person consented to written descriptions")
	from := fs.String("from", "", "the decision's period starts (RFC 3339)")
	to := fs.String("to", "", "the decision's period ends (RFC 3339)")
	purpose := fs.String("purpose", "", "the purpose of supervision, as the decision states it")
	child := fs.String("child", "", "the child's id")
	support := fs.Bool("support-person", false, "the child asks for a support person at visits")
	pause := fs.String("pause-until", "", "the child asks for visits to pause until then (RFC 3339)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var id, msg string
	var err error
	switch what {
	case "decision":
		var fromMs, toMs int64
		if fromMs, err = optionalTime("from", *from); err != nil {
			return err
		}
		if toMs, err = optionalTime("to", *to); err != nil {
			return err
		}
		id, err = c.store.SetDecision(ctx, nil, *caseID, server.Decision{Kind: *kind, ConsentParents: *consentParents,
			YoungPerson: *youngPerson, ConsentYoungPerson: *consentYoung, FromMs: fromMs, ToMs: toMs, Purpose: *purpose})
		msg = "Decision recorded, id "
	case "conditions":
		var version int
		id, version, err = c.store.SetConditions(ctx, nil, *caseID, *text)
		msg = fmt.Sprintf("Conditions version %d recorded, id ", version)
	case "goal":
		id, err = c.store.AddGoal(ctx, nil, *caseID, *text)
		msg = "Goal added, id "
	case "wish":
		var pauseMs int64
		if pauseMs, err = optionalTime("pause-until", *pause); err != nil {
			return err
		}
		id, err = c.store.AddWish(ctx, nil, *caseID, *child, *text, *support, pauseMs)
		msg = "Wish recorded, id "
	}
	if err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]string{"id": id}, msg+id+"\n")
}

func (c *AdminCommand) visitReschedule(ctx context.Context, visitID string, args []string) error {
	fs := subFlags("visit reschedule", c)
	start := fs.String("start", "", "new start, RFC 3339")
	end := fs.String("end", "", "new end, RFC 3339")
	room := fs.String("room", "", "the visit room")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, en, err := visitTimes(*start, *end)
	if err != nil {
		return err
	}
	if err := c.store.RescheduleVisit(ctx, nil, visitID, st, en, *room); err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]string{"rescheduled": visitID}, "Visit rescheduled.\n")
}

func (c *AdminCommand) checklistShow(ctx context.Context) error {
	version, items, err := c.store.ChecklistTemplate(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Checklist template version %d\n", version)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.Phase, it.Key, it.Label)
	}
	tw.Flush()
	type item struct {
		Phase string `json:"phase"`
		Key   string `json:"key"`
		Label string `json:"label"`
	}
	out := struct {
		Version int    `json:"version"`
		Items   []item `json:"items"`
	}{Version: version}
	for _, it := range items {
		out.Items = append(out.Items, item(it))
	}
	return output(c.Stdout, c.json, out, b.String())
}

func (c *AdminCommand) checklistSet(ctx context.Context, file string) error {
	var r io.Reader = c.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var items []struct{ Phase, Key, Label string }
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&items); err != nil {
		return usageError("The checklist must be JSON: [{\"phase\": \"before\", \"key\": \"room_ready\", \"label\": \"Room ready\"}, …].")
	}
	list := make([]syncer.ChecklistItem, len(items))
	for i, it := range items {
		list[i] = syncer.ChecklistItem{Phase: it.Phase, Key: it.Key, Label: it.Label}
	}
	version, err := c.store.SetChecklistTemplate(ctx, nil, list)
	if err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]int{"version": version}, fmt.Sprintf("Checklist template version %d saved; new visits start with it.\n", version))
}

func (c *AdminCommand) reportList(ctx context.Context, args []string) error {
	fs := subFlags("report list", c)
	caseID := fs.String("case", "", "one case only")
	filter := fs.String("filter", "", "new, overdue or acknowledged")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reports, err := c.store.Reports(ctx, nil, *caseID, *filter)
	if err != nil {
		return err
	}
	if reports == nil {
		reports = []server.Report{}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPORT\tVISIT\tSTART\tKIND\tSTATE\tOVERDUE\tRECIPIENTS")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", r.ID, r.VisitID, time.UnixMilli(r.VisitStartMs).Local().Format("2006-01-02 15:04"),
			r.VisitKind, r.State, r.Overdue, strings.Join(r.Recipients, ","))
	}
	tw.Flush()
	return output(c.Stdout, c.json, reports, b.String())
}

// auditExport writes what a child's parents may ask to see: when the child's data was used, what
// kind of use and why — not who; as text, JSON (--json) or a Danish PDF (--pdf FILE).
func (c *AdminCommand) auditExport(ctx context.Context, args []string) error {
	fs := subFlags("audit export", c)
	child := fs.String("child", "", "the child's id (case add prints it)")
	pdfPath := fs.String("pdf", "", "write the insight export as a PDF in Danish to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	format := "text"
	switch {
	case *pdfPath != "":
		format = "pdf"
	case c.json:
		format = "json"
	}
	in, err := c.store.InsightExport(ctx, server.Actor{}, *child, format)
	if err != nil {
		return err
	}
	if format == "pdf" {
		f, err := os.OpenFile(*pdfPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if err := insightpdf.Write(f, web.InsightDocument(in, nil)); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "The insight export (%d uses) is written to %s.\n", len(in.Entries), *pdfPath)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Use of the data about child %s\n", *child)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tUSE\tPURPOSE")
	for _, e := range in.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", time.UnixMilli(e.AtMs).Local().Format(time.DateTime), insightpdf.Use(web.InsightEntry(e)), dash(e.Purpose))
	}
	tw.Flush()
	return output(c.Stdout, c.json, in, b.String())
}
