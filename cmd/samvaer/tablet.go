package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/internal/lookup"
	"github.com/samvaer/sync/syncer"
)

// tablet is what every tablet command shares: a command-line tablet built only on clientlib. It
// works offline and syncs when the server can be reached.
type tablet struct {
	*env
	home string
}

const tabletLong = `A command-line tablet. Its data is encrypted and opens with its PIN: every command asks for it
at a terminal, or reads the environment variable SAMVAER_PIN (scripts). A PIN has at least 4
characters; after 5 wrong PINs in a row the data is made unreadable and the tablet must be
enrolled again.

VISIT may be a visit id or any unique prefix of one. A TEXT of "-" is read from standard input;
put -- before a TEXT that starts with a dash.
Report sections: ` + "context, attendance, before_contact, opening, interaction, ending, conditions, child_perspective, placement_account, assessment, follow_up" + `.`

// open unlocks the enrolled tablet for one command and closes it after.
func (c *tablet) open(fn func(ctx context.Context, t *clientlib.Tablet, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
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
		return fn(cmd.Context(), t, args)
	}
}

func newTabletCmd(e *env) *cobra.Command {
	c := &tablet{env: e}
	cmd := group("tablet", "a command-line tablet: visits, observations, reports, sync")
	cmd.Long = tabletLong
	cmd.PersistentFlags().StringVar(&c.home, "home", defaultTabletHome(), "the tablet's home directory")
	cmd.AddCommand(
		c.enroll(), c.pin(), c.wipeCmd(), c.visitsCmd(), c.observe(), c.check(true), c.check(false),
		group("report", "the visit's report", c.reportSet()),
		c.startEnd("start"), c.startEnd("end"), c.present(), c.caseCmd(), c.submit(), c.addendum(), c.signAddendum(),
		c.inbox(), c.read(), c.acknowledge(), c.statusCmd(), c.conflictsCmd(), c.resolve(), c.rejectedCmd(), c.digest(), c.sync(),
	)
	return cmd
}

func (c *tablet) pin() *cobra.Command {
	cmd := &cobra.Command{Use: "pin", Short: "change the PIN (the new one from SAMVAER_NEW_PIN or the terminal)", Args: argsExactly()}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error {
		newPIN, err := c.readPIN("New PIN: ", newPINEnv, true)
		if err != nil {
			return err
		}
		if err := t.ChangePIN(newPIN); err != nil {
			return err
		}
		return c.print(map[string]bool{"pin_changed": true}, "PIN changed.\n")
	})
	return cmd
}

func (c *tablet) visitsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "visits", Short: "your visits, with checklists and report sections", Args: argsExactly()}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error { return c.visits(ctx, t) })
	return cmd
}

func (c *tablet) observe() *cobra.Command {
	cmd := &cobra.Command{Use: "observe VISIT TEXT", Short: "note an observation (timestamped now)", Args: argsAtLeast("VISIT", "TEXT")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		visit, text, err := c.visitAndText(ctx, t, args[0], args[1:])
		if err != nil {
			return err
		}
		o, err := t.Observe(ctx, visit, text)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"id": o.ID, "at_ms": o.AtMs}, fmt.Sprintf("Observation noted at %s.\n", c.clock(o.AtMs)))
	})
	return cmd
}

func (c *tablet) check(on bool) *cobra.Command {
	use, short, done := "check VISIT ITEM", "tick a checklist item (keys in 'visits')", "checked"
	if !on {
		use, short, done = "uncheck VISIT ITEM", "untick a checklist item", "unchecked"
	}
	cmd := &cobra.Command{Use: use, Short: short, Args: argsExactly("VISIT", "ITEM")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		visit, err := c.visitID(ctx, t, args[0])
		if err != nil {
			return err
		}
		if err := t.Check(ctx, visit, args[1], on); err != nil {
			return err
		}
		return c.print(map[string]any{"item": args[1], "checked": on}, fmt.Sprintf("%s: %s.\n", args[1], done))
	})
	return cmd
}

func (c *tablet) reportSet() *cobra.Command {
	cmd := &cobra.Command{Use: "set VISIT SECTION TEXT", Short: "write a report section", Args: argsAtLeast("VISIT", "SECTION", "TEXT")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		visit, text, err := c.visitAndText(ctx, t, args[0], args[2:])
		if err != nil {
			return err
		}
		if err := t.SetReportSection(ctx, visit, args[1], text); err != nil {
			return err
		}
		return c.print(map[string]any{"section": args[1], "saved": true}, fmt.Sprintf("Section %s saved.\n", args[1]))
	})
	return cmd
}

func (c *tablet) startEnd(which string) *cobra.Command {
	cmd := &cobra.Command{Use: which + " VISIT", Short: "the visit " + which + "s now (the time is set by the clock)", Args: argsExactly("VISIT")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		visit, err := c.visitID(ctx, t, args[0])
		if err != nil {
			return err
		}
		do, msg := t.StartVisit, "Visit started now.\n"
		if which == "end" {
			do, msg = t.EndVisit, "Visit ended now.\n"
		}
		if err := do(ctx, visit); err != nil {
			return err
		}
		return c.print(map[string]any{"visit": visit, which: true}, msg)
	})
	return cmd
}

func (c *tablet) present() *cobra.Command {
	cmd := &cobra.Command{Use: "present VISIT TEXT", Short: "who is present and their roles", Args: argsAtLeast("VISIT", "TEXT")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		visit, text, err := c.visitAndText(ctx, t, args[0], args[1:])
		if err != nil {
			return err
		}
		if err := t.SetPresent(ctx, visit, text); err != nil {
			return err
		}
		return c.print(map[string]any{"visit": visit, "saved": true}, "Attendance saved.\n")
	})
	return cmd
}

func (c *tablet) caseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "case CASE", Short: "the case: children, decision, conditions, goals, wishes", Args: argsExactly("CASE")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		return c.showCase(ctx, t, args[0])
	})
	return cmd
}

func (c *tablet) submit() *cobra.Command {
	cmd := &cobra.Command{Use: "submit VISIT", Short: "sign and submit the visit's report; it is locked from then on", Args: argsExactly("VISIT")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		visit, err := c.visitID(ctx, t, args[0])
		if err != nil {
			return err
		}
		if err := t.Submit(ctx, visit); err != nil {
			return err
		}
		return c.print(map[string]any{"visit": visit, "submitted": true}, "Report signed and submitted; it is locked now. Sync to deliver it.\n")
	})
	return cmd
}

func (c *tablet) addendum() *cobra.Command {
	cmd := &cobra.Command{Use: "addendum VISIT TEXT", Short: "a dated, signed correction to a submitted report", Args: argsAtLeast("VISIT", "TEXT")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		visit, text, err := c.visitAndText(ctx, t, args[0], args[1:])
		if err != nil {
			return err
		}
		id, err := t.AddAddendum(ctx, visit, "", text)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"id": id}, "Addendum signed; sync to deliver it.\n")
	})
	return cmd
}

func (c *tablet) signAddendum() *cobra.Command {
	cmd := &cobra.Command{Use: "sign-addendum ADDENDUM", Short: "sign an addendum draft (made from an edit of a locked report)", Args: argsExactly("ADDENDUM")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		if err := t.SignAddendum(ctx, args[0]); err != nil {
			return err
		}
		return c.print(map[string]any{"signed": args[0]}, "Addendum signed; sync to deliver it.\n")
	})
	return cmd
}

func (c *tablet) acknowledge() *cobra.Command {
	cmd := &cobra.Command{Use: "acknowledge REPORT", Short: "caseworkers: you have read the report (online)", Args: argsExactly("REPORT")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		if err := t.Acknowledge(ctx, args[0]); err != nil {
			return err
		}
		return c.print(map[string]any{"acknowledged": args[0]}, "Report acknowledged.\n")
	})
	return cmd
}

func (c *tablet) statusCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "status", Short: "pending changes, last sync, conflicts, rejected changes", Args: argsExactly()}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error { return c.status(ctx, t) })
	return cmd
}

func (c *tablet) conflictsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "conflicts", Short: "edits that overlapped with another's, both sides kept", Args: argsExactly()}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error { return c.conflicts(ctx, t) })
	return cmd
}

func (c *tablet) rejectedCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rejected", Short: "changes the server refused, with the reason", Args: argsExactly()}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error { return c.rejected(ctx, t) })
	return cmd
}

func (c *tablet) digest() *cobra.Command {
	cmd := &cobra.Command{Use: "digest CASE", Short: "the case's state digest (equal on every converged replica)", Args: argsExactly("CASE")}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		id, err := c.caseID(ctx, t, args[0])
		if err != nil {
			return err
		}
		d, err := t.Digest(ctx, id)
		if err != nil {
			return err
		}
		return c.print(map[string]string{"case": id, "digest": d}, d+"\n")
	})
	return cmd
}

func (c *tablet) sync() *cobra.Command {
	cmd := &cobra.Command{Use: "sync", Short: "push pending changes and pull the server's", Args: argsExactly()}
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error {
		r, err := t.Sync(ctx)
		if err != nil {
			return err
		}
		return c.print(r, fmt.Sprintf("Synced: %d sent (%d applied, %d merged, %d conflicts, %d rejected), %d received.\n",
			r.Pushed, r.Applied, r.Merged, r.Conflicts, r.Rejected, r.Pulled))
	})
	return cmd
}

func defaultTabletHome() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "samvaer-tablet")
	}
	return "samvaer-tablet"
}

// text joins the words of a TEXT argument, or reads standard input for "-".
func (c *tablet) text(words []string) (string, error) {
	if len(words) == 1 && words[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin, syncer.MaxTextBytes+1))
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\n"), nil
	}
	return strings.Join(words, " "), nil
}

// visitAndText resolves a VISIT argument and reads the TEXT after it.
func (c *tablet) visitAndText(ctx context.Context, t *clientlib.Tablet, visitArg string, words []string) (string, string, error) {
	visit, err := c.visitID(ctx, t, visitArg)
	if err != nil {
		return "", "", err
	}
	text, err := c.text(words)
	return visit, text, err
}

// visitID resolves a visit id or a unique prefix of one.
func (c *tablet) visitID(ctx context.Context, t *clientlib.Tablet, arg string) (string, error) {
	visits, err := t.Visits(ctx)
	if err != nil {
		return "", err
	}
	cands := make([]lookup.Candidate, len(visits))
	for i, v := range visits {
		cands[i] = lookup.Candidate{ID: v.ID, Label: c.dateTime(v.StartMs)}
	}
	id, err := lookup.Find("visit", arg, cands, false)
	if syncer.ErrorCode(err) == syncer.CodeNotFound {
		return "", syncer.Errorf(syncer.CodeNotFound, "No visit on this tablet has id %q; 'visits' lists them (sync first if it is new).", arg)
	}
	return id, err
}

// caseID resolves a case's reference, id or unique id prefix among the cases on this tablet. A
// whole id is taken as it is (the digest of a case the tablet no longer holds is the empty one).
func (c *tablet) caseID(ctx context.Context, t *clientlib.Tablet, arg string) (string, error) {
	if syncer.ValidID(arg) {
		return arg, nil
	}
	cases, err := t.Cases(ctx)
	if err != nil {
		return "", err
	}
	cands := make([]lookup.Candidate, len(cases))
	for i, cs := range cases {
		cands[i] = lookup.Candidate{ID: cs.ID, Names: []string{cs.Reference}, Label: cs.Reference}
	}
	return lookup.Find("case", arg, cands, false)
}

func (c *tablet) enroll() *cobra.Command {
	var serverURL, code, name string
	cmd := &cobra.Command{Use: "enroll --server URL --code CODE --name NAME", Short: "enroll this tablet (one-time code from an admin) and set its PIN", Args: argsExactly()}
	cmd.Flags().StringVar(&serverURL, "server", "", "the sync server's URL, e.g. http://127.0.0.1:8080")
	cmd.Flags().StringVar(&code, "code", "", "the one-time enrollment code an admin gave you")
	cmd.Flags().StringVar(&name, "name", "", "the name people will know this tablet by in the device list (asked at a terminal when not given)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if serverURL == "" || code == "" {
			return usageError("enroll needs --server URL and --code CODE.")
		}
		if name == "" {
			var err error
			if name, err = c.askLine("A name for this tablet, as people will know it in the device list (e.g. iPad 3, Team Nord): "); err != nil {
				return usageError("Give the tablet a name people will recognise it by: --name \"iPad 3, Team Nord\".")
			}
		}
		pin, err := c.readPIN("Choose a PIN for this tablet (at least 4 characters): ", pinEnv, true)
		if err != nil {
			return err
		}
		t, err := clientlib.Enroll(cmd.Context(), c.home, serverURL, code, name, clientlib.Options{PIN: pin})
		if err != nil {
			return err
		}
		defer t.Close()
		return c.print(map[string]string{"device_id": t.DeviceID(), "user_id": t.UserID()},
			fmt.Sprintf("Enrolled: device %s. Run 'sync' to fetch your visits.\n", t.DeviceID()))
	}
	return cmd
}

// askLine asks a person at the terminal for one line; without a terminal it fails.
func (c *tablet) askLine(prompt string) (string, error) {
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal")
	}
	fmt.Fprint(c.stderr, prompt)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// Environment variables that give PINs to scripts instead of the terminal.
const (
	pinEnv    = "SAMVAER_PIN"
	newPINEnv = "SAMVAER_NEW_PIN"
)

// readPIN reads a PIN from the environment variable env when it is set, otherwise from the
// terminal without echo (twice when confirm, for a new PIN).
func (c *tablet) readPIN(prompt, env string, confirm bool) (string, error) {
	if pin, ok := os.LookupEnv(env); ok {
		if confirm {
			return pin, clientlib.ValidatePIN(pin)
		}
		return pin, nil
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", syncer.Errorf(syncer.CodeInvalid, "This needs the tablet's PIN: run it at a terminal or set %s.", env)
	}
	fmt.Fprint(c.stderr, prompt)
	pin, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("read PIN: %w", err)
	}
	if !confirm {
		return string(pin), nil
	}
	if err := clientlib.ValidatePIN(string(pin)); err != nil {
		return "", err
	}
	fmt.Fprint(c.stderr, "Again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("read PIN: %w", err)
	}
	if string(again) != string(pin) {
		return "", syncer.Errorf(syncer.CodeInvalid, "The two PINs differ; nothing was changed.")
	}
	return string(pin), nil
}

// wipe erases the tablet after a confirmation (or --yes).
func (c *tablet) wipeCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{Use: "wipe [--yes]", Short: "erase this tablet: its data, its keys, its home directory", Args: argsExactly()}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error {
		if !yes {
			fmt.Fprintf(c.stderr, "This erases everything on this tablet (%s), including changes not yet synced. Type yes to go on: ", c.home)
			answer, _ := bufio.NewReader(c.stdin).ReadString('\n')
			if strings.TrimSpace(answer) != "yes" {
				return syncer.Errorf(syncer.CodeFailedPrecondition, "Nothing was erased.")
			}
		}
		if err := t.Wipe(); err != nil {
			return err
		}
		return c.print(map[string]bool{"wiped": true}, "The tablet is wiped; enroll it again to use it.\n")
	})
	return cmd
}

func (c *tablet) visits(ctx context.Context, t *clientlib.Tablet) error {
	visits, err := t.Visits(ctx)
	if err != nil {
		return err
	}
	cases, err := t.Cases(ctx)
	if err != nil {
		return err
	}
	refs := map[string]string{}
	for _, cs := range cases {
		if cs.Reference != "" {
			refs[cs.ID] = " (" + cs.Reference + ")"
		}
	}
	var b strings.Builder
	for _, v := range visits {
		fmt.Fprintf(&b, "Visit %s  case %s%s\n  %s, %s – %s, %s\n", v.ID, v.CaseID, refs[v.CaseID], v.Kind,
			c.dateTime(v.StartMs), c.clock(v.EndMs), v.Place)
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
				fmt.Fprintf(&b, "    %s  %s\n", c.clock(o.AtMs), o.Text)
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
	return c.print(visits, b.String())
}

func (c *tablet) status(ctx context.Context, t *clientlib.Tablet) error {
	s, err := t.Status(ctx)
	if err != nil {
		return err
	}
	last := "never"
	if s.LastSyncMs > 0 {
		last = c.dateTime(s.LastSyncMs)
	}
	return c.print(s, fmt.Sprintf("Pending changes: %d\nAwaiting confirmation: %d\nLast sync: %s\nOpen conflicts: %d\nRejected changes: %d\n",
		s.Pending, s.Awaiting, last, s.OpenConflicts, s.DeadLetters))
}

func (c *tablet) conflicts(ctx context.Context, t *clientlib.Tablet) error {
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
	return c.print(conflicts, b.String())
}

func (c *tablet) rejected(ctx context.Context, t *clientlib.Tablet) error {
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
	return c.print(dead, b.String())
}

func (c *tablet) resolve() *cobra.Command {
	var keep, other bool
	var text string
	cmd := &cobra.Command{Use: "resolve CONFLICT (--keep | --other | --text TEXT)", Short: "close a conflict: keep the section's text, take the other version, or write the final text", Args: argsExactly("CONFLICT")}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the text the section has now")
	cmd.Flags().BoolVar(&other, "other", false, "take the other version")
	cmd.Flags().StringVar(&text, "text", "", `the final text ("-" reads standard input)`)
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		return c.resolveConflict(ctx, t, args[0], keep, other, text)
	})
	return cmd
}

func (c *tablet) resolveConflict(ctx context.Context, t *clientlib.Tablet, id string, keep, other bool, text string) error {
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
	case keep && !other && text == "":
		final = cf.CurrentValue
	case other && !keep && text == "":
		final = cf.OtherValue
	case text != "" && !keep && !other:
		if final, err = c.text([]string{text}); err != nil {
			return err
		}
	default:
		return usageError("resolve needs exactly one of --keep, --other or --text TEXT.")
	}
	if err := t.Resolve(ctx, cf.ID, final); err != nil {
		return err
	}
	return c.print(map[string]any{"resolved": cf.ID}, "Conflict resolved; sync to share it.\n")
}

func (c *tablet) inbox() *cobra.Command {
	var purpose, caseID, filter string
	cmd := &cobra.Command{Use: "inbox --purpose WHY [--case CASE] [--filter new|overdue|acknowledged]", Short: "caseworkers: the reports of your cases (online)", Args: argsExactly()}
	cmd.Flags().StringVar(&purpose, "purpose", "", "why you look (written to the access log)")
	cmd.Flags().StringVar(&caseID, "case", "", "one case only")
	cmd.Flags().StringVar(&filter, "filter", "", "new, overdue or acknowledged")
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, _ []string) error {
		return c.inboxList(ctx, t, caseID, filter, purpose)
	})
	return cmd
}

func (c *tablet) inboxList(ctx context.Context, t *clientlib.Tablet, caseID, filter, purpose string) error {
	reports, err := t.Inbox(ctx, caseID, filter, purpose)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPORT\tCASE\tVISIT\tKIND\tSTATE\tOVERDUE")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", r.Id, r.CaseId, c.dateTime(r.VisitStartMs), r.VisitKind, r.State, r.Overdue)
	}
	tw.Flush()
	return c.print(reports, b.String())
}

func (c *tablet) read() *cobra.Command {
	var purpose string
	cmd := &cobra.Command{Use: "read REPORT --purpose WHY", Short: "caseworkers: a report with its addenda (online, logged)", Args: argsExactly("REPORT")}
	cmd.Flags().StringVar(&purpose, "purpose", "", "why you read (written to the access log)")
	cmd.RunE = c.open(func(ctx context.Context, t *clientlib.Tablet, args []string) error {
		return c.readReport(ctx, t, args[0], purpose)
	})
	return cmd
}

func (c *tablet) readReport(ctx context.Context, t *clientlib.Tablet, id, purpose string) error {
	r, err := t.ReadReport(ctx, id, purpose)
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
		fmt.Fprintf(&b, "  Addendum %s (%s, %s) %s: %s\n", a.Id, a.State, c.dateTime(a.SubmittedMs), a.Section, a.Text)
	}
	for _, pc := range r.ParentComments {
		fmt.Fprintf(&b, "  Parent's comment %s (%s): %s\n", pc.Id, c.dateTime(pc.SubmittedMs), pc.Text)
	}
	return c.print(r, b.String())
}

func (c *tablet) showCase(ctx context.Context, t *clientlib.Tablet, id string) error {
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
	return c.print(cs, b.String())
}
