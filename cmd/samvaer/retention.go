package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samvaer/sync/server"
)

// retentionFlags are the retention settings, the same for serve and admin retention run.
func retentionFlags(cmd *cobra.Command, p *server.RetentionPolicy) {
	f := cmd.Flags()
	f.DurationVar(&p.Reports, "retention-reports", p.Reports, "how long a report is kept after it was both acknowledged and exported")
	f.DurationVar(&p.Cases, "retention-cases", p.Cases, "how long a closed case is kept after it was closed")
	f.DurationVar(&p.Audit, "retention-audit", p.Audit, "how long audit entries are kept (at least 4392h, six months)")
}

// retentionRun runs the retention job on the data directory, or with --dry-run says what it would delete.
func (a *admin) retentionRun() *cobra.Command {
	policy := server.DefaultRetentionPolicy()
	var dryRun bool
	cmd := &cobra.Command{Use: "run [--dry-run]", Short: "delete what the retention settings no longer keep (--dry-run: only count it)", Args: argsExactly()}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted, delete nothing")
	retentionFlags(cmd, &policy)
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, _ []string) error {
		res, err := st.RunRetention(ctx, server.Actor{}, policy, dryRun)
		if err != nil {
			return err
		}
		verb := "Deleted"
		if dryRun {
			verb = "Would delete"
		}
		return a.print(res, fmt.Sprintf("%s %d reports (%d addenda, %d parents' comments, %d conflicts), %d closed cases, %d records and %d changes in all, and %d audit entries.\n",
			verb, res.Reports, res.Addenda, res.Comments, res.Conflicts, res.Cases, res.Records, res.Changes, res.AuditEntries))
	})
	return cmd
}
