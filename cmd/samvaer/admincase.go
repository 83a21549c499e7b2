package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

func (a *admin) caseShow() *cobra.Command {
	var purpose string
	cmd := &cobra.Command{Use: "show CASE --purpose WHY", Short: "the case's reference, its children with their ids, and who works on it (logged)", Args: argsExactly("CASE")}
	cmd.Flags().StringVar(&purpose, "purpose", "", "why you look (written to the access log)")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindCase, &args[0]}); err != nil {
			return err
		}
		ov, err := st.ShowCase(ctx, args[0], purpose)
		if err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Case %s, reference %s, %d visits\n", ov.ID, dash(ov.Reference), ov.Visits)
		b.WriteString(table([]string{"CHILD", "NAME"}, ov.Children, func(c server.CaseChild) []any { return []any{c.ID, c.Name} }))
		b.WriteString(table([]string{"USER", "NAME", "ROLE"}, ov.Members, func(m server.CaseMember) []any { return []any{m.UserID, m.Name, m.Role} }))
		return a.print(ov, b.String())
	})
	return cmd
}

func (a *admin) caseDecision() *cobra.Command {
	var caseID, from, to string
	var d server.Decision
	cmd := &cobra.Command{Use: "decision --case CASE --kind supervised|supported", Short: "record a decision (and the consent to written descriptions)", Args: argsExactly()}
	f := cmd.Flags()
	f.StringVar(&caseID, "case", "", "the case id")
	f.StringVar(&d.Kind, "kind", "", "supervised (§ 105) or supported (§ 104)")
	f.BoolVar(&d.ConsentParents, "consent-parents", false, "the parents consented to written descriptions")
	f.BoolVar(&d.YoungPerson, "young-person", false, "a child of the case is 15 or over")
	f.BoolVar(&d.ConsentYoungPerson, "consent-young-person", false, "the young person consented to written descriptions")
	f.StringVar(&from, "from", "", "the decision's period starts (a date or a time)")
	f.StringVar(&to, "to", "", "the decision's period ends (RFC 3339)")
	f.StringVar(&d.Purpose, "purpose", "", "the purpose of supervision, as the decision states it")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		var err error
		if d.FromMs, err = a.optionalMs("from", from); err != nil {
			return err
		}
		if d.ToMs, err = a.optionalMs("to", to); err != nil {
			return err
		}
		if err := resolve(ctx, ref{st.FindCase, &caseID}); err != nil {
			return err
		}
		id, err := st.SetDecision(ctx, nil, caseID, d)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"id": id}, "Decision recorded, id "+id+"\n")
	})
	return cmd
}

// caseText is `case conditions` (a new version of the conditions and agreements) or `case goal`
// (a goal of the parent action plan).
func (a *admin) caseText(what string) *cobra.Command {
	var caseID, text string
	short := "a new version of the conditions and agreements"
	if what == "goal" {
		short = "a goal of the parent action plan"
	}
	cmd := &cobra.Command{Use: what + " --case CASE --text TEXT", Short: short, Args: argsExactly()}
	cmd.Flags().StringVar(&caseID, "case", "", "the case id")
	cmd.Flags().StringVar(&text, "text", "", "the text")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		if err := resolve(ctx, ref{st.FindCase, &caseID}); err != nil {
			return err
		}
		var id, msg string
		var err error
		if what == "goal" {
			id, err = st.AddGoal(ctx, nil, caseID, text)
			msg = "Goal added, id "
		} else {
			var version int
			id, version, err = st.SetConditions(ctx, nil, caseID, text)
			msg = fmt.Sprintf("Conditions version %d recorded, id ", version)
		}
		if err != nil {
			return err
		}
		return a.print(map[string]string{"id": id}, msg+id+"\n")
	})
	return cmd
}

func (a *admin) caseWish() *cobra.Command {
	var caseID, child, text, pause string
	var support bool
	cmd := &cobra.Command{Use: "wish --case CASE --child CHILD --text TEXT", Short: "record a child's wish", Args: argsExactly()}
	f := cmd.Flags()
	f.StringVar(&caseID, "case", "", "the case id")
	f.StringVar(&child, "child", "", "the child's id")
	f.StringVar(&text, "text", "", "the wish")
	f.BoolVar(&support, "support-person", false, "the child asks for a support person at visits")
	f.StringVar(&pause, "pause-until", "", "the child asks for visits to pause until then (RFC 3339)")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		pauseMs, err := a.optionalMs("pause-until", pause)
		if err != nil {
			return err
		}
		if err := resolve(ctx, ref{st.FindCase, &caseID}, ref{st.FindChild, &child}); err != nil {
			return err
		}
		id, err := st.AddWish(ctx, nil, caseID, child, text, support, pauseMs)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"id": id}, "Wish recorded, id "+id+"\n")
	})
	return cmd
}

func (a *admin) visitReschedule() *cobra.Command {
	var start, end, room string
	cmd := &cobra.Command{Use: "reschedule VISIT --start TIME --end TIME [--room ROOM]", Short: "move a visit", Args: argsExactly("VISIT")}
	cmd.Flags().StringVar(&start, "start", "", "new start, RFC 3339")
	cmd.Flags().StringVar(&end, "end", "", "new end, RFC 3339")
	cmd.Flags().StringVar(&room, "room", "", "the visit room")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		s, e, err := a.visitTimes(start, end)
		if err != nil {
			return err
		}
		if err := resolve(ctx, ref{st.FindVisit, &args[0]}); err != nil {
			return err
		}
		if err := st.RescheduleVisit(ctx, nil, args[0], s, e, room); err != nil {
			return err
		}
		return a.print(map[string]string{"rescheduled": args[0]}, "Visit rescheduled.\n")
	})
	return cmd
}

func (a *admin) checklistShow() *cobra.Command {
	cmd := &cobra.Command{Use: "show", Short: "the checklist template new visits start with", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		version, items, err := st.ChecklistTemplate(ctx)
		if err != nil {
			return err
		}
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
		rows := table([]string{"PHASE", "KEY", "LABEL"}, items, func(it syncer.ChecklistItem) []any { return []any{it.Phase, it.Key, it.Label} })
		return a.print(out, fmt.Sprintf("Checklist template version %d\n%s", version, rows))
	})
	return cmd
}

func (a *admin) checklistSet() *cobra.Command {
	cmd := &cobra.Command{Use: "set FILE", Short: `a new template version from JSON [{"phase","key","label"}] ("-": standard input)`, Args: argsExactly("FILE")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		r := a.stdin
		if args[0] != "-" {
			f, err := os.Open(args[0])
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
		version, err := st.SetChecklistTemplate(ctx, nil, list)
		if err != nil {
			return err
		}
		return a.print(map[string]int{"version": version}, fmt.Sprintf("Checklist template version %d saved; new visits start with it.\n", version))
	})
	return cmd
}

func (a *admin) reportList() *cobra.Command {
	var caseID, filter string
	cmd := &cobra.Command{Use: "list [--case CASE] [--filter new|overdue|acknowledged]", Short: "reports with their visit, state and recipients (no text)", Args: argsExactly()}
	cmd.Flags().StringVar(&caseID, "case", "", "one case only")
	cmd.Flags().StringVar(&filter, "filter", "", "new, overdue or acknowledged")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		if err := resolve(ctx, ref{st.FindCase, &caseID}); err != nil {
			return err
		}
		reports, err := st.Reports(ctx, nil, caseID, filter)
		if err != nil {
			return err
		}
		return a.print(nonNil(reports), table([]string{"REPORT", "VISIT", "START", "KIND", "STATE", "OVERDUE", "RECIPIENTS"}, reports, func(r server.Report) []any {
			return []any{r.ID, r.VisitID, a.dateTime(r.VisitStartMs), r.VisitKind, r.State, r.Overdue, strings.Join(r.Recipients, ",")}
		}))
	})
	return cmd
}

// auditExport writes what a child's parents may ask to see: when the child's data was used, what
// kind of use and why — not who.
func (a *admin) auditExport() *cobra.Command {
	var child string
	cmd := &cobra.Command{Use: "export --child CHILD", Short: "the access log entries about a child: dates, kinds of use, purposes", Args: argsExactly()}
	cmd.Flags().StringVar(&child, "child", "", "the child's id ('case add' prints it)")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		if err := resolve(ctx, ref{st.FindChild, &child}); err != nil {
			return err
		}
		entries, err := st.AccessForChild(ctx, child)
		if err != nil {
			return err
		}
		rows := table([]string{"WHEN", "WHAT", "PURPOSE"}, entries, func(e server.AccessEntry) []any {
			what := e.What
			if i := strings.LastIndexByte(what, ' '); i >= 0 && syncer.ValidID(what[i+1:]) {
				what = what[:i]
			}
			return []any{a.dateTime(e.AtMs), what, e.Purpose}
		})
		return a.print(map[string]any{"child": child, "entries": nonNil(entries)}, fmt.Sprintf("Use of the data about child %s\n%s", child, rows))
	})
	return cmd
}
