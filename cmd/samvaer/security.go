package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

func (a *admin) deviceRevoke() *cobra.Command {
	var lost, retire bool
	cmd := &cobra.Command{Use: "revoke DEVICE --lost|--retire", Short: "lost: refused at once and told to wipe; retire: final push, then wipe", Args: argsExactly("DEVICE")}
	cmd.Flags().BoolVar(&lost, "lost", false, "the device is lost or stolen: refuse everything, wipe at its next contact")
	cmd.Flags().BoolVar(&retire, "retire", false, "the device is taken out of use: accept its final push, then wipe")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if lost == retire {
			return usageError("Say --lost or --retire.")
		}
		status := server.DeviceLost
		if retire {
			status = server.DeviceRetired
		}
		if err := resolve(ctx, ref{st.FindDevice, &args[0]}); err != nil {
			return err
		}
		d, err := st.RevokeDevice(ctx, server.Actor{}, args[0], status)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("Device %s (%s) revoked as lost: its next request is refused and it deletes its data.\n", d.ID, d.UserName)
		if status == server.DeviceRetired {
			text = fmt.Sprintf("Device %s (%s) retired: at its next sync it sends its pending changes, then deletes its data.\n", d.ID, d.UserName)
		}
		return a.print(d, text)
	})
	return cmd
}

func (a *admin) userPassword() *cobra.Command {
	cmd := &cobra.Command{Use: "password USER", Short: "set the user's password, read from standard input", Args: argsExactly("USER")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		sc := bufio.NewScanner(a.stdin)
		sc.Buffer(make([]byte, 4096), 4096)
		if !sc.Scan() {
			return usageError("Type the new password on standard input, followed by a newline.")
		}
		if err := resolve(ctx, ref{st.FindUser, &args[0]}); err != nil {
			return err
		}
		if err := st.SetPassword(ctx, server.Actor{}, args[0], strings.TrimRight(sc.Text(), "\r")); err != nil {
			return err
		}
		return a.print(map[string]string{"password_set": args[0]}, "Password set.\n")
	})
	return cmd
}

func (a *admin) caseAssign() *cobra.Command {
	var user, role string
	cmd := &cobra.Command{Use: "assign CASE --user USER --role consultant|caseworker|coordinator", Short: "give a user a part in a case", Args: argsExactly("CASE")}
	cmd.Flags().StringVar(&user, "user", "", "the user's name")
	cmd.Flags().StringVar(&role, "role", "", "consultant, caseworker or coordinator")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindCase, &args[0]}, ref{st.FindUser, &user}); err != nil {
			return err
		}
		if err := st.AssignCase(ctx, server.Actor{}, args[0], user, role); err != nil {
			return err
		}
		u, err := st.UserByName(ctx, user)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"case": args[0], "user": u.ID, "role": role},
			fmt.Sprintf("%s is assigned to the case as %s; their tablets get it at their next sync.\n", u.Name, role))
	})
	return cmd
}

func (a *admin) caseUnassign() *cobra.Command {
	var user string
	cmd := &cobra.Command{Use: "unassign CASE --user USER", Short: "the user's tablets delete the case at their next sync", Args: argsExactly("CASE")}
	cmd.Flags().StringVar(&user, "user", "", "the user's name")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindCase, &args[0]}, ref{st.FindUser, &user}); err != nil {
			return err
		}
		if err := st.UnassignCase(ctx, server.Actor{}, args[0], user); err != nil {
			return err
		}
		u, err := st.UserByName(ctx, user)
		if err != nil {
			return err
		}
		return a.print(map[string]string{"case": args[0], "user": u.ID},
			fmt.Sprintf("%s is no longer assigned to the case; their tablets delete it at their next sync.\n", u.Name))
	})
	return cmd
}

func (a *admin) auditVerify() *cobra.Command {
	cmd := &cobra.Command{Use: "verify", Short: "check the audit log's hash chain", Args: argsExactly()}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		v, err := st.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		if len(v.Problems) > 0 {
			if a.json {
				if err := a.print(v, ""); err != nil {
					return err
				}
			}
			return syncer.Errorf(syncer.CodeFailedPrecondition, "The audit log fails verification: %s.", strings.Join(v.Problems, "; "))
		}
		return a.print(v, fmt.Sprintf("The audit log is intact: %d entries; the newest is %d with hash %s.\n", v.Entries, v.HeadID, v.HeadHash))
	})
	return cmd
}

// parseDay reads an optional filter time: a date (its midnight in the display zone) or a time.
func (a *admin) parseDay(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return a.parseWhen(flagName, s, true)
}

func (a *admin) auditList() *cobra.Command {
	var since, until, user string
	var f server.AuditFilter
	cmd := &cobra.Command{Use: "list [--since T] [--until T] [--user USER] [--device DEVICE] [--case CASE]", Short: "the audit log's entries, filtered", Args: argsExactly()}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "entries from this time (RFC 3339 or a date)")
	fl.StringVar(&until, "until", "", "entries before this time")
	fl.StringVar(&user, "user", "", "entries whose actor is this user (name or id)")
	fl.StringVar(&f.DeviceID, "device", "", "entries about this device")
	fl.StringVar(&f.CaseID, "case", "", "entries about this case")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		var err error
		if f.Since, err = a.parseDay("since", since); err != nil {
			return err
		}
		if f.Until, err = a.parseDay("until", until); err != nil {
			return err
		}
		f.UserID = user
		if err := resolve(ctx, ref{st.FindUser, &f.UserID}, ref{st.FindDevice, &f.DeviceID}, ref{st.FindCase, &f.CaseID}); err != nil {
			return err
		}
		entries, err := st.SearchAudit(ctx, server.Actor{}, f, "") // the search itself is logged
		if err != nil {
			return err
		}
		return a.print(nonNil(entries), table([]string{"ID", "TIME", "KIND", "ACTOR", "DEVICE", "CASE", "PURPOSE", "DETAIL"}, entries, func(e server.AuditEntry) []any {
			detail := ""
			if len(e.Detail) > 0 {
				d, _ := json.Marshal(e.Detail)
				detail = string(d)
			}
			return []any{e.ID, a.dateTime(e.AtMs), e.Kind, dash(e.ActorUserID), dash(e.DeviceID), dash(e.CaseID), dash(e.Purpose), detail}
		}))
	})
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
