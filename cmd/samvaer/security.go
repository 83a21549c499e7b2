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
		if err := st.AssignCase(ctx, server.Actor{}, args[0], user, role); err != nil {
			return err
		}
		return a.print(map[string]string{"case": args[0], "user": user, "role": role},
			fmt.Sprintf("%s is assigned to the case as %s; their tablets get it at their next sync.\n", user, role))
	})
	return cmd
}

func (a *admin) caseUnassign() *cobra.Command {
	var user string
	cmd := &cobra.Command{Use: "unassign CASE --user USER", Short: "the user's tablets delete the case at their next sync", Args: argsExactly("CASE")}
	cmd.Flags().StringVar(&user, "user", "", "the user's name")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := st.UnassignCase(ctx, server.Actor{}, args[0], user); err != nil {
			return err
		}
		return a.print(map[string]string{"case": args[0], "user": user},
			fmt.Sprintf("%s is no longer assigned to the case; their tablets delete it at their next sync.\n", user))
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

// parseTime reads a time given as RFC 3339 or as a date (midnight, local time).
func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, usageError("--%s must be a date like 2026-11-28 or a time like 2026-11-28T10:00:00+01:00.", flagName)
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
		if f.Since, err = parseTime("since", since); err != nil {
			return err
		}
		if f.Until, err = parseTime("until", until); err != nil {
			return err
		}
		if user != "" {
			u, err := st.UserByName(ctx, user)
			if err != nil {
				return err
			}
			f.UserID = u.ID
		}
		entries, err := st.AuditEntries(ctx, f)
		if err != nil {
			return err
		}
		return a.print(nonNil(entries), table([]string{"ID", "TIME", "KIND", "ACTOR", "DEVICE", "CASE", "PURPOSE", "DETAIL"}, entries, func(e server.AuditEntry) []any {
			detail := ""
			if len(e.Detail) > 0 {
				d, _ := json.Marshal(e.Detail)
				detail = string(d)
			}
			return []any{e.ID, time.UnixMilli(e.AtMs).Local().Format(time.DateTime), e.Kind, dash(e.ActorUserID), dash(e.DeviceID), dash(e.CaseID), dash(e.Purpose), detail}
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
