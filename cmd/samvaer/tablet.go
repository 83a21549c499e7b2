package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/syncer"
)

// TabletCommand is a command-line tablet built only on clientlib: it works offline and syncs when
// the server can be reached.
type TabletCommand struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	home string
	json bool
}

const tabletUsage = `Usage: samvaer tablet --home DIR [--json] COMMAND

The tablet's data is encrypted and opens with its PIN: every command asks for it at a terminal,
or reads the environment variable SAMVAER_PIN (scripts). A PIN has at least 4 characters; after
5 wrong PINs in a row the data is made unreadable and the tablet must be enrolled again.

Commands:
  enroll --server URL --code CODE [--name NAME]   enroll this tablet (one-time code from an admin) and set its PIN
  pin                                             change the PIN (the new one from SAMVAER_NEW_PIN or the terminal)
  wipe [--yes]                                    erase this tablet: its data, its keys, its home directory
  visits                                          your visits, with checklists and report sections
  observe VISIT TEXT                              note an observation (timestamped now); TEXT "-" reads stdin
  check VISIT ITEM | uncheck VISIT ITEM           tick or untick a checklist item (keys in 'visits')
  report set VISIT SECTION TEXT                   write a report section; TEXT "-" reads stdin
  start VISIT | end VISIT                         the visit starts or ends now (times are set by the clock)
  present VISIT TEXT                              who is present and their roles ("-" reads stdin)
  case CASE                                        the case: children, decision, conditions, goals, wishes
  submit VISIT                                    sign and submit the visit's report; it is locked from then on
  addendum VISIT TEXT                             a dated, signed correction to a submitted report ("-" reads stdin)
  sign-addendum ADDENDUM                          sign an addendum draft (made from an edit of a locked report)
  inbox --purpose WHY [--case ID] [--filter new|overdue|acknowledged]
                                                  caseworkers: the reports of your cases (online)
  read REPORT --purpose WHY                       caseworkers: a report with its addenda (online, logged)
  acknowledge REPORT                              caseworkers: you have read the report (online)
  status                                          pending changes, last sync, conflicts, rejected changes
  conflicts                                       edits that overlapped with another's, both sides kept
  resolve CONFLICT (--keep | --other | --text TEXT)  close a conflict: keep the section's text, take
                                                  the other version, or write the final text ("-" reads stdin)
  rejected                                        changes the server refused, with the reason
  digest CASE                                     the case's state digest (equal on every converged replica)
  sync                                            push pending changes and pull the server's
  app [--listen 127.0.0.1:PORT] [--idle-lock 5m]  the consultant's app in a browser (PIN asked on the page)

VISIT may be a visit id or any unique prefix of one.
Report sections: ` + "context, attendance, before_contact, opening, interaction, ending, conditions, child_perspective, placement_account, assessment, follow_up" + `
`

// Run parses the global flags and runs one tablet command.
func (c *TabletCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tablet", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, tabletUsage) }
	fs.StringVar(&c.home, "home", defaultTabletHome(), "the tablet's home directory")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	if rest[0] == "enroll" {
		return c.enroll(ctx, rest[1:])
	}
	if rest[0] == "app" {
		return c.app(ctx, rest[1:])
	}
	if !clientlib.Enrolled(c.home) {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "This tablet (%s) is not enrolled yet: enroll it with a code from an admin.", c.home)
	}
	pin, err := c.readPIN("PIN: ", pinEnv, false)
	if err != nil {
		return err
	}
	t, err := clientlib.Open(c.home, clientlib.Options{PIN: pin})
	if err != nil {
		return err
	}
	defer t.Close()
	switch {
	case rest[0] == "pin" && len(rest) == 1:
		newPIN, err := c.readPIN("New PIN: ", newPINEnv, true)
		if err != nil {
			return err
		}
		if err := t.ChangePIN(newPIN); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]bool{"pin_changed": true}, "PIN changed.\n")
	case rest[0] == "wipe":
		return c.wipe(t, rest[1:])
	case rest[0] == "visits" && len(rest) == 1:
		return c.visits(ctx, t)
	case rest[0] == "observe" && len(rest) >= 3:
		visit, text, err := c.visitAndText(ctx, t, rest[1], rest[2:])
		if err != nil {
			return err
		}
		o, err := t.Observe(ctx, visit, text)
		if err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"id": o.ID, "at_ms": o.AtMs}, fmt.Sprintf("Observation noted at %s.\n", time.UnixMilli(o.AtMs).Local().Format("15:04:05")))
	case (rest[0] == "check" || rest[0] == "uncheck") && len(rest) == 3:
		visit, err := c.visitID(ctx, t, rest[1])
		if err != nil {
			return err
		}
		if err := t.Check(ctx, visit, rest[2], rest[0] == "check"); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"item": rest[2], "checked": rest[0] == "check"}, fmt.Sprintf("%s: %sed.\n", rest[2], rest[0]))
	case rest[0] == "report" && len(rest) >= 5 && rest[1] == "set":
		visit, text, err := c.visitAndText(ctx, t, rest[2], rest[4:])
		if err != nil {
			return err
		}
		if err := t.SetReportSection(ctx, visit, rest[3], text); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"section": rest[3], "saved": true}, fmt.Sprintf("Section %s saved.\n", rest[3]))
	case (rest[0] == "start" || rest[0] == "end") && len(rest) == 2:
		visit, err := c.visitID(ctx, t, rest[1])
		if err != nil {
			return err
		}
		do, msg := t.StartVisit, "Visit started now.\n"
		if rest[0] == "end" {
			do, msg = t.EndVisit, "Visit ended now.\n"
		}
		if err := do(ctx, visit); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"visit": visit, rest[0]: true}, msg)
	case rest[0] == "present" && len(rest) >= 3:
		visit, text, err := c.visitAndText(ctx, t, rest[1], rest[2:])
		if err != nil {
			return err
		}
		if err := t.SetPresent(ctx, visit, text); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"visit": visit, "saved": true}, "Attendance saved.\n")
	case rest[0] == "case" && len(rest) == 2:
		return c.showCase(ctx, t, rest[1])
	case rest[0] == "submit" && len(rest) == 2:
		visit, err := c.visitID(ctx, t, rest[1])
		if err != nil {
			return err
		}
		if err := t.Submit(ctx, visit); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"visit": visit, "submitted": true}, "Report signed and submitted; it is locked now. Sync to deliver it.\n")
	case rest[0] == "addendum" && len(rest) >= 3:
		visit, text, err := c.visitAndText(ctx, t, rest[1], rest[2:])
		if err != nil {
			return err
		}
		id, err := t.AddAddendum(ctx, visit, "", text)
		if err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"id": id}, "Addendum signed; sync to deliver it.\n")
	case rest[0] == "sign-addendum" && len(rest) == 2:
		if err := t.SignAddendum(ctx, rest[1]); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"signed": rest[1]}, "Addendum signed; sync to deliver it.\n")
	case rest[0] == "inbox":
		return c.inbox(ctx, t, rest[1:])
	case rest[0] == "read" && len(rest) >= 2:
		return c.read(ctx, t, rest[1], rest[2:])
	case rest[0] == "acknowledge" && len(rest) == 2:
		if err := t.Acknowledge(ctx, rest[1]); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]any{"acknowledged": rest[1]}, "Report acknowledged.\n")
	case rest[0] == "status" && len(rest) == 1:
		return c.status(ctx, t)
	case rest[0] == "conflicts" && len(rest) == 1:
		return c.conflicts(ctx, t)
	case rest[0] == "resolve" && len(rest) >= 2:
		return c.resolve(ctx, t, rest[1], rest[2:])
	case rest[0] == "rejected" && len(rest) == 1:
		return c.rejected(ctx, t)
	case rest[0] == "digest" && len(rest) == 2:
		d, err := t.Digest(ctx, rest[1])
		if err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]string{"case": rest[1], "digest": d}, d+"\n")
	case rest[0] == "sync" && len(rest) == 1:
		r, err := t.Sync(ctx)
		if err != nil {
			return err
		}
		return output(c.Stdout, c.json, r, fmt.Sprintf("Synced: %d sent (%d applied, %d merged, %d conflicts, %d rejected), %d received.\n",
			r.Pushed, r.Applied, r.Merged, r.Conflicts, r.Rejected, r.Pulled))
	}
	fs.Usage()
	return usageError("Unknown tablet command %q.", strings.Join(rest, " "))
}

func defaultTabletHome() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "samvaer-tablet")
	}
	return "samvaer-tablet"
}

// text joins the words of a TEXT argument, or reads standard input for "-".
func (c *TabletCommand) text(words []string) (string, error) {
	if len(words) == 1 && words[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(c.Stdin, syncer.MaxTextBytes+1))
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\n"), nil
	}
	return strings.Join(words, " "), nil
}

// visitAndText resolves a VISIT argument and reads the TEXT after it.
func (c *TabletCommand) visitAndText(ctx context.Context, t *clientlib.Tablet, visitArg string, words []string) (string, string, error) {
	visit, err := c.visitID(ctx, t, visitArg)
	if err != nil {
		return "", "", err
	}
	text, err := c.text(words)
	return visit, text, err
}

// visitID resolves a visit id or a unique prefix of one.
func (c *TabletCommand) visitID(ctx context.Context, t *clientlib.Tablet, arg string) (string, error) {
	visits, err := t.Visits(ctx)
	if err != nil {
		return "", err
	}
	var match []string
	for _, v := range visits {
		if v.ID == arg {
			return v.ID, nil
		}
		if len(arg) >= 4 && strings.HasPrefix(v.ID, arg) {
			match = append(match, v.ID)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", syncer.Errorf(syncer.CodeNotFound, "No visit on this tablet has id %q; 'visits' lists them (sync first if it is new).", arg)
	}
	return "", usageError("%q matches %d visits; give more of the id.", arg, len(match))
}

func (c *TabletCommand) enroll(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	serverURL := fs.String("server", "", "the sync server's URL, e.g. http://127.0.0.1:8080")
	code := fs.String("code", "", "the one-time enrollment code an admin gave you")
	name := fs.String("name", "", "a name for this tablet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serverURL == "" || *code == "" {
		return usageError("enroll needs --server URL and --code CODE.")
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	pin, err := c.readPIN("Choose a PIN for this tablet (at least 4 characters): ", pinEnv, true)
	if err != nil {
		return err
	}
	t, err := clientlib.Enroll(ctx, c.home, *serverURL, *code, *name, clientlib.Options{PIN: pin})
	if err != nil {
		return err
	}
	defer t.Close()
	return output(c.Stdout, c.json, map[string]string{"device_id": t.DeviceID(), "user_id": t.UserID()},
		fmt.Sprintf("Enrolled: device %s. Run 'sync' to fetch your visits.\n", t.DeviceID()))
}

// Environment variables that give PINs to scripts instead of the terminal.
const (
	pinEnv    = "SAMVAER_PIN"
	newPINEnv = "SAMVAER_NEW_PIN"
)

// readPIN reads a PIN from the environment variable env when it is set, otherwise from the
// terminal without echo (twice when confirm, for a new PIN).
func (c *TabletCommand) readPIN(prompt, env string, confirm bool) (string, error) {
	if pin, ok := os.LookupEnv(env); ok {
		if confirm {
			return pin, clientlib.ValidatePIN(pin)
		}
		return pin, nil
	}
	f, ok := c.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", syncer.Errorf(syncer.CodeInvalid, "This needs the tablet's PIN: run it at a terminal or set %s.", env)
	}
	fmt.Fprint(c.Stderr, prompt)
	pin, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.Stderr)
	if err != nil {
		return "", fmt.Errorf("read PIN: %w", err)
	}
	if !confirm {
		return string(pin), nil
	}
	if err := clientlib.ValidatePIN(string(pin)); err != nil {
		return "", err
	}
	fmt.Fprint(c.Stderr, "Again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.Stderr)
	if err != nil {
		return "", fmt.Errorf("read PIN: %w", err)
	}
	if string(again) != string(pin) {
		return "", syncer.Errorf(syncer.CodeInvalid, "The two PINs differ; nothing was changed.")
	}
	return string(pin), nil
}

// wipe erases the tablet after a confirmation (or --yes).
func (c *TabletCommand) wipe(t *clientlib.Tablet, args []string) error {
	fs := flag.NewFlagSet("wipe", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(c.Stderr, "This erases everything on this tablet (%s), including changes not yet synced. Type yes to go on: ", c.home)
		answer, _ := bufio.NewReader(c.Stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "Nothing was erased.")
		}
	}
	if err := t.Wipe(); err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]bool{"wiped": true}, "The tablet is wiped; enroll it again to use it.\n")
}

func (c *TabletCommand) visits(ctx context.Context, t *clientlib.Tablet) error {
	visits, err := t.Visits(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, v := range visits {
		fmt.Fprintf(&b, "Visit %s  case %s\n  %s, %s – %s, %s\n", v.ID, v.CaseID, v.Kind,
			time.UnixMilli(v.StartMs).Local().Format("Mon 2 Jan 15:04"), time.UnixMilli(v.EndMs).Local().Format("15:04"), v.Place)
		b.WriteString("  Checklist:\n")
		for _, it := range v.Checklist {
			mark := " "
			if it.Checked {
				mark = "x"
			}
			fmt.Fprintf(&b, "    [%s] %-28s %s\n", mark, it.Key, it.Label)
		}
		if len(v.Observations) > 0 {
			b.WriteString("  Observations:\n")
			for _, o := range v.Observations {
				fmt.Fprintf(&b, "    %s  %s\n", time.UnixMilli(o.AtMs).Local().Format("15:04:05"), o.Text)
			}
		}
		overdue := ""
		if v.ReportOverdue {
			overdue = ", overdue"
		}
		fmt.Fprintf(&b, "  Report %s (%s%s):\n", v.ReportID, v.ReportState, overdue)
		for _, s := range v.Report {
			if s.Text != "" {
				fmt.Fprintf(&b, "    %s: %s\n", s.Key, s.Text)
			}
		}
		for _, a := range v.Addenda {
			text := a.Text
			if text == "" {
				text = "(delivered; the text has left this tablet)"
			}
			fmt.Fprintf(&b, "  Addendum %s (%s) %s: %s\n", a.ID, a.State, a.Section, text)
		}
		b.WriteString("\n")
	}
	if len(visits) == 0 {
		b.WriteString("No visits on this tablet yet; run 'sync' when online.\n")
	}
	return output(c.Stdout, c.json, visits, b.String())
}

func (c *TabletCommand) status(ctx context.Context, t *clientlib.Tablet) error {
	s, err := t.Status(ctx)
	if err != nil {
		return err
	}
	last := "never"
	if s.LastSyncMs > 0 {
		last = time.UnixMilli(s.LastSyncMs).Local().Format(time.DateTime)
	}
	return output(c.Stdout, c.json, s, fmt.Sprintf("Pending changes: %d\nAwaiting confirmation: %d\nLast sync: %s\nOpen conflicts: %d\nRejected changes: %d\n",
		s.Pending, s.Awaiting, last, s.OpenConflicts, s.DeadLetters))
}

func (c *TabletCommand) conflicts(ctx context.Context, t *clientlib.Tablet) error {
	conflicts, err := t.Conflicts(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, cf := range conflicts {
		fmt.Fprintf(&b, "Conflict %s: %s %s, field %s\n  kept:  %s\n  other: %s (from device %s)\n\n",
			cf.ID, cf.RecordType, cf.RecordID, cf.Field, cf.CurrentValue, cf.OtherValue, cf.OtherDevice)
	}
	if len(conflicts) == 0 {
		b.WriteString("No open conflicts.\n")
	}
	return output(c.Stdout, c.json, conflicts, b.String())
}

func (c *TabletCommand) rejected(ctx context.Context, t *clientlib.Tablet) error {
	dead, err := t.DeadLetters(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tRECORD\tREASON")
	for _, d := range dead {
		fmt.Fprintf(tw, "%d\t%s %s\t%s\n", d.Seq, d.RecordType, d.RecordID, d.Reason)
	}
	tw.Flush()
	return output(c.Stdout, c.json, dead, b.String())
}

func (c *TabletCommand) resolve(ctx context.Context, t *clientlib.Tablet, id string, args []string) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	keep := fs.Bool("keep", false, "keep the text the section has now")
	other := fs.Bool("other", false, "take the other version")
	text := fs.String("text", "", "the final text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conflicts, err := t.Conflicts(ctx)
	if err != nil {
		return err
	}
	var cf *clientlib.Conflict
	for i := range conflicts {
		if conflicts[i].ID == id || (len(id) >= 4 && strings.HasPrefix(conflicts[i].ID, id)) {
			cf = &conflicts[i]
		}
	}
	if cf == nil {
		return syncer.Errorf(syncer.CodeNotFound, "No open conflict has id %q; 'conflicts' lists them.", id)
	}
	var final string
	switch {
	case *keep && !*other && *text == "":
		final = cf.CurrentValue
	case *other && !*keep && *text == "":
		final = cf.OtherValue
	case *text != "" && !*keep && !*other:
		if final, err = c.text([]string{*text}); err != nil {
			return err
		}
	default:
		return usageError("resolve needs exactly one of --keep, --other or --text TEXT.")
	}
	if err := t.Resolve(ctx, cf.ID, final); err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]any{"resolved": cf.ID}, "Conflict resolved; sync to share it.\n")
}

func (c *TabletCommand) inbox(ctx context.Context, t *clientlib.Tablet, args []string) error {
	fs := flag.NewFlagSet("inbox", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.BoolVar(&c.json, "json", c.json, "print JSON")
	purpose := fs.String("purpose", "", "why you look (written to the access log)")
	caseID := fs.String("case", "", "one case only")
	filter := fs.String("filter", "", "new, overdue or acknowledged")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reports, err := t.Inbox(ctx, *caseID, *filter, *purpose)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPORT\tCASE\tVISIT\tKIND\tSTATE\tOVERDUE")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", r.Id, r.CaseId, time.UnixMilli(r.VisitStartMs).Local().Format("2006-01-02 15:04"), r.VisitKind, r.State, r.Overdue)
	}
	tw.Flush()
	return output(c.Stdout, c.json, reports, b.String())
}

func (c *TabletCommand) read(ctx context.Context, t *clientlib.Tablet, id string, args []string) error {
	fs := flag.NewFlagSet("read", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.BoolVar(&c.json, "json", c.json, "print JSON")
	purpose := fs.String("purpose", "", "why you read (written to the access log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := t.ReadReport(ctx, id, *purpose)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Report %s, visit %s (%s), %s\n", r.Report.Id, r.Report.VisitId, r.Report.VisitKind, r.Report.State)
	for _, s := range r.Sections {
		if s.Text != "" {
			fmt.Fprintf(&b, "  %s: %s\n", s.Key, s.Text)
		}
	}
	for _, a := range r.Addenda {
		fmt.Fprintf(&b, "  Addendum %s (%s, %s) %s: %s\n", a.Id, a.State, time.UnixMilli(a.SubmittedMs).Local().Format(time.DateTime), a.Section, a.Text)
	}
	for _, pc := range r.ParentComments {
		fmt.Fprintf(&b, "  Parent's comment %s (%s): %s\n", pc.Id, time.UnixMilli(pc.SubmittedMs).Local().Format(time.DateTime), pc.Text)
	}
	return output(c.Stdout, c.json, r, b.String())
}

func (c *TabletCommand) showCase(ctx context.Context, t *clientlib.Tablet, id string) error {
	cs, err := t.Case(ctx, id)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Case %s (%s)\n", cs.ID, cs.Reference)
	for _, ch := range cs.Children {
		fmt.Fprintf(&b, "  Child %s: %s\n", ch.ID, ch.Name)
	}
	for _, d := range cs.Decisions {
		fmt.Fprintf(&b, "  Decision %s: %s; parents consent to written descriptions: %v\n", d.ID, d.Kind, d.ConsentParents)
		if d.Purpose != "" {
			fmt.Fprintf(&b, "    purpose: %s\n", d.Purpose)
		}
	}
	if cs.Conditions.ID != "" {
		fmt.Fprintf(&b, "  Conditions (version %d): %s\n", cs.Conditions.Version, cs.Conditions.Text)
	}
	for _, g := range cs.Goals {
		fmt.Fprintf(&b, "  Goal: %s\n", g.Text)
	}
	for _, w := range cs.Wishes {
		fmt.Fprintf(&b, "  Wish of %s: %s (support person: %v)\n", w.ChildID, w.Text, w.SupportPerson)
	}
	return output(c.Stdout, c.json, cs, b.String())
}
