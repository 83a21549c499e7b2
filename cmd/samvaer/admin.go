package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samvaer/sync/server"
)

// admin is what every admin command shares: it works on a server's data directory directly,
// whether or not the server runs on it (SQLite allows one writer at a time and both wait their
// turn).
type admin struct {
	*env
	data     string
	database string
}

// ref is an argument a person typed and the function that resolves it to an id.
type ref struct {
	find func(context.Context, string) (string, error)
	arg  *string
}

// resolve replaces each given argument by the id it names (a name, a reference or a unique id
// prefix); an empty one stays empty.
func resolve(ctx context.Context, refs ...ref) error {
	for _, r := range refs {
		if *r.arg == "" {
			continue
		}
		id, err := r.find(ctx, *r.arg)
		if err != nil {
			return err
		}
		*r.arg = id
	}
	return nil
}

// do opens the store for one command and closes it after.
func (a *admin) do(fn func(ctx context.Context, st *server.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		st, err := server.OpenStoreOn(a.data, database(a.database), nil)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(cmd.Context(), st, args)
	}
}

func newAdminCmd(e *env) *cobra.Command {
	a := &admin{env: e}
	cmd := group("admin", "manage people, cases, visits, devices, reports, keys and the audit log")
	cmd.Long = `Manage a server's data directory: people, cases, visits, devices, reports, keys and the audit log.

What a person wrote is stored sealed under key-encryption keys from the environment variable
SAMVAER_KEK (base64, comma-separated, first is primary) or else the key file kek.json in the
data directory (made on first start). Keep a copy of the keys apart from the database backups.`
	cmd.PersistentFlags().StringVar(&a.data, "data", server.DefaultConfig().DataDir, "the server's data directory (its keys, and its SQLite database unless --database is given)")
	databaseFlag(cmd.PersistentFlags(), &a.database)
	e.zoneFlag(cmd)
	cmd.AddCommand(
		group("user", "people: add, list, set, disable, enable, password, unblock, reset-factors",
			a.userAdd(), a.userList(), a.userSet(), a.userDisable(true), a.userDisable(false), a.userPassword(), a.userUnblock(), a.userResetFactors()),
		group("case", "cases: add, list, decision, conditions, goal, wish, assign, unassign, close",
			a.caseAdd(), a.caseList(), a.caseShow(), a.caseDecision(), a.caseText("conditions"), a.caseText("goal"), a.caseWish(),
			a.caseAssign(), a.caseUnassign(), a.caseClose()),
		group("visit", "visits: add, reschedule, cancel", a.visitAdd(), a.visitReschedule(), a.visitCancel()),
		group("checklist", "the checklist template new visits start with", a.checklistShow(), a.checklistSet()),
		group("report", "reports", a.reportList()),
		group("audit", "the audit log: list, verify, export", a.auditList(), a.auditVerify(), a.auditExport()),
		group("retention", "the retention job: delete what is kept no longer", a.retentionRun()),
		group("device", "tablets: enroll, list, revoke", a.deviceEnroll(), a.deviceList(), a.deviceRevoke()),
		group("keys", "key-encryption keys and the token signing key", a.keysList(), a.keysRotate(), a.keysRewrap(), a.keysRetire(), a.keysRotateSigning()),
		a.digest(), a.backup(),
	)
	return cmd
}

func (a *admin) userAdd() *cobra.Command {
	var name, subject string
	var roles []string
	cmd := &cobra.Command{Use: "add --name NAME --role ROLE [--role ROLE …]", Short: "add a user (roles: consultant, caseworker, coordinator, admin)", Args: argsExactly()}
	cmd.Flags().StringVar(&name, "name", "", "the user's name (unique)")
	cmd.Flags().StringArrayVar(&roles, "role", nil, "a role (repeat for several)")
	cmd.Flags().StringVar(&subject, "oidc-subject", "", "who the user is at the municipality's identity provider (the value of --oidc-claim in their ID token)")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		u, err := st.AddUser(ctx, name, roles)
		if err != nil {
			return err
		}
		if subject != "" {
			if u, err = st.SetOIDCSubject(ctx, server.Actor{}, u.ID, subject); err != nil {
				return err
			}
		}
		return a.print(u, fmt.Sprintf("User %s added (%s), id %s\n", u.Name, strings.Join(u.Roles, ", "), u.ID))
	})
	return cmd
}

func (a *admin) userList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "list the users", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		return a.print(nonNil(users), table([]string{"ID", "NAME", "ROLES", "DISABLED", "SECOND FACTOR", "OIDC SUBJECT"}, users, func(u server.User) []any {
			return []any{u.ID, u.Name, strings.Join(u.Roles, ","), u.Disabled, u.SecondFactor, u.OIDCSubject}
		}))
	})
	return cmd
}

func (a *admin) userDisable(disable bool) *cobra.Command {
	use, short := "enable USER", "allow the user's devices again"
	if disable {
		use, short = "disable USER", "refuse every device of the user at once"
	}
	cmd := &cobra.Command{Use: use, Short: short, Args: argsExactly("USER")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindUser, &args[0]}); err != nil {
			return err
		}
		u, err := st.SetUserDisabled(ctx, server.Actor{}, args[0], disable)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("%s is enabled.\n", u.Name)
		if u.Disabled {
			text = fmt.Sprintf("%s is disabled: every device of theirs is refused from its next request.\n", u.Name)
		}
		return a.print(u, text)
	})
	return cmd
}

func (a *admin) caseAdd() *cobra.Command {
	var nc server.NewCase
	cmd := &cobra.Command{Use: "add --child NAME [--child NAME …] --parent NAME … --caseworker USER [--reference REF]", Short: "add a case", Args: argsExactly()}
	f := cmd.Flags()
	f.StringArrayVar(&nc.Children, "child", nil, "a child's name (repeat for siblings)")
	f.StringArrayVar(&nc.Parents, "parent", nil, "a parent's name (repeat for several)")
	f.StringArrayVar(&nc.Relatives, "relative", nil, "a relative's name (repeat for several)")
	f.StringVar(&nc.Caseworker, "caseworker", "", "the caseworker's user name")
	f.StringVar(&nc.Reference, "reference", "", "the municipality's case reference (journal number)")
	f.StringVar(&nc.Placement, "placement", "", "where the child lives (foster family, institution)")
	f.StringVar(&nc.Coordinator, "coordinator", "", "the coordinator who plans the case's visits")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		if err := resolve(ctx, ref{st.FindUser, &nc.Caseworker}, ref{st.FindUser, &nc.Coordinator}); err != nil {
			return err
		}
		id, err := st.AddCase(ctx, nc)
		if err != nil {
			return err
		}
		kids, err := st.ChildIDs(ctx, id)
		if err != nil {
			return err
		}
		return a.print(map[string]any{"id": id, "child_ids": kids},
			fmt.Sprintf("Case added, id %s\nChildren: %s\n", id, strings.Join(kids, ", ")))
	})
	return cmd
}

func (a *admin) caseList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "list the cases (ids, references and counts, no names)", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		cases, err := st.Cases(ctx)
		if err != nil {
			return err
		}
		return a.print(nonNil(cases), table([]string{"ID", "REFERENCE", "VISITS"}, cases, func(c server.CaseSummary) []any {
			return []any{c.ID, c.Reference, c.Visits}
		}))
	})
	return cmd
}

func (a *admin) visitAdd() *cobra.Command {
	var nv server.NewVisit
	var start, end string
	cmd := &cobra.Command{Use: "add --case CASE --consultant USER --kind supervised|supported --start TIME --end TIME", Short: "add a visit", Args: argsExactly()}
	f := cmd.Flags()
	f.StringVar(&nv.CaseID, "case", "", "the case id")
	f.StringVar(&nv.Consultant, "consultant", "", "the consultant's user name")
	f.StringVar(&nv.Kind, "kind", "", "supervised (overvåget, § 105) or supported (støttet, § 104)")
	f.StringVar(&start, "start", "", "planned start, RFC 3339 (2026-11-28T10:00:00+01:00)")
	f.StringVar(&end, "end", "", "planned end, RFC 3339")
	f.StringVar(&nv.Place, "place", "", "the place (address or building)")
	f.StringVar(&nv.Room, "room", "", "the visit room; two visits cannot hold one room at the same time")
	f.StringVar(&nv.DecisionID, "decision", "", "the decision the visit rests on (default: the case's newest of its kind)")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		var err error
		if nv.Start, nv.End, err = a.visitTimes(start, end); err != nil {
			return err
		}
		if err := resolve(ctx, ref{st.FindCase, &nv.CaseID}, ref{st.FindUser, &nv.Consultant}); err != nil {
			return err
		}
		id, err := st.AddVisit(ctx, nv)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"id": id}, "Visit added, id "+id+"\n")
	})
	return cmd
}

func (a *admin) visitCancel() *cobra.Command {
	cmd := &cobra.Command{Use: "cancel VISIT", Short: "cancel a visit", Args: argsExactly("VISIT")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindVisit, &args[0]}); err != nil {
			return err
		}
		if err := st.CancelVisit(ctx, args[0]); err != nil {
			return err
		}
		return a.print(map[string]string{"cancelled": args[0]}, "Visit cancelled.\n")
	})
	return cmd
}

func (a *admin) caseClose() *cobra.Command {
	cmd := &cobra.Command{Use: "close CASE", Short: "close a case: every tablet deletes it at its next sync", Args: argsExactly("CASE")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindCase, &args[0]}); err != nil {
			return err
		}
		if err := st.CloseCase(ctx, server.Actor{}, args[0]); err != nil {
			return err
		}
		return a.print(map[string]string{"closed": args[0]}, "Case closed; every tablet deletes it at its next sync.\n")
	})
	return cmd
}

func (a *admin) deviceEnroll() *cobra.Command {
	var user string
	cmd := &cobra.Command{Use: "enroll --user USER", Short: "print a one-time enrollment code (valid 15 minutes)", Args: argsExactly()}
	cmd.Flags().StringVar(&user, "user", "", "the user the tablet is for")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		if err := resolve(ctx, ref{st.FindUser, &user}); err != nil {
			return err
		}
		code, expires, err := st.NewEnrollmentCode(ctx, user)
		if err != nil {
			return err
		}
		return a.print(map[string]any{"code": code, "expires": expires.UTC().Format(time.RFC3339)},
			fmt.Sprintf("Enrollment code: %s (single use, valid until %s)\n", code, a.clock(expires.UnixMilli())))
	})
	return cmd
}

func (a *admin) deviceList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "list the enrolled devices with their status and last contact", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		devices, err := st.Devices(ctx)
		if err != nil {
			return err
		}
		return a.print(nonNil(devices), table([]string{"ID", "NAME", "USER", "STATUS", "LAST SEEN"}, devices, func(d server.Device) []any {
			seen := "never"
			if d.LastSeenMs > 0 {
				seen = a.dateTime(d.LastSeenMs)
			}
			return []any{d.ID, d.Name, d.UserName, d.Status, seen}
		}))
	})
	return cmd
}

func (a *admin) digest() *cobra.Command {
	cmd := &cobra.Command{Use: "digest CASE [--role R | --user NAME]",
		Short: "the digest of what a device of role R (default consultant) or of user NAME should hold of the case: equal to the tablet's digest once it synced",
		Args:  argsExactly("CASE")}
	var h server.Holder
	cmd.Flags().StringVar(&h.Role, "role", "consultant", "consultant, caseworker or coordinator")
	cmd.Flags().StringVar(&h.User, "user", "", "a user (by name): what their devices should hold")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindCase, &args[0]}, ref{st.FindUser, &h.User}); err != nil {
			return err
		}
		if h.User != "" {
			h.Role = ""
		}
		d, err := st.CaseDigestFor(ctx, args[0], h)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"case": args[0], "digest": d}, d+"\n")
	})
	return cmd
}

func (a *admin) backup() *cobra.Command {
	cmd := &cobra.Command{Use: "backup FILE", Short: "write a consistent copy of the database, also while the server runs", Args: argsExactly("FILE")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := st.Backup(ctx, args[0]); err != nil {
			return err
		}
		return a.print(map[string]string{"backup": args[0]}, "Backup written to "+args[0]+"\n")
	})
	return cmd
}

func (a *admin) keysList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "the key-encryption keys and how many stored values each seals", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		keys, err := st.KEKs(ctx)
		if err != nil {
			return err
		}
		return a.print(nonNil(keys), table([]string{"KEY", "PRIMARY", "SOURCE", "VALUES"}, keys, func(k server.KEKInfo) []any {
			return []any{k.ID, k.Primary, k.Source, k.InUse}
		}))
	})
	return cmd
}

func (a *admin) keysRotate() *cobra.Command {
	cmd := &cobra.Command{Use: "rotate", Short: "make a new primary key-encryption key; older ones keep opening", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		kid, err := st.RotateKEK(ctx)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"primary": kid},
			fmt.Sprintf("New primary key-encryption key %s. A running server uses it from its next write. Run 'keys rewrap', then 'keys retire' the old key.\n", kid))
	})
	return cmd
}

func (a *admin) keysRewrap() *cobra.Command {
	cmd := &cobra.Command{Use: "rewrap", Short: "re-wrap every stored value under the primary key (content untouched)", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		n, err := st.RewrapKEK(ctx)
		if err != nil {
			return err
		}
		return a.print(map[string]int{"rewrapped": n}, fmt.Sprintf("%d stored values re-wrapped under the primary key.\n", n))
	})
	return cmd
}

func (a *admin) keysRetire() *cobra.Command {
	cmd := &cobra.Command{Use: "retire KID", Short: "drop a key no stored value uses any more (after rewrap)", Args: argsExactly("KID")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := st.RetireKEK(ctx, args[0]); err != nil {
			return err
		}
		return a.print(map[string]string{"retired": args[0]}, "Key "+args[0]+" retired.\n")
	})
	return cmd
}

func (a *admin) keysRotateSigning() *cobra.Command {
	cmd := &cobra.Command{Use: "rotate-signing", Short: "a new token signing key; tokens signed before stay valid until they expire", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		kid, err := st.RotateSigningKey(ctx)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"kid": kid}, "New signing key "+kid+"; tokens signed with older keys stay valid until they expire.\n")
	})
	return cmd
}

// table writes rows under a header, aligned in columns.
func table[T any](header []string, rows []T, cells func(T) []any) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i, c := range cells(r) {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	return b.String()
}

// nonNil makes an empty list print as [] in JSON, not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
