package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samvaer/sync/server"
)

// userUnblock lifts a sign-in block after repeated failures, for a name or an address.
func (a *admin) userUnblock() *cobra.Command {
	var address string
	cmd := &cobra.Command{Use: "unblock [USER] [--address ADDR]", Short: "lift the sign-in block of a name (or of an address) after repeated failed sign-ins",
		Args: cobra.MaximumNArgs(1)}
	cmd.Flags().StringVar(&address, "address", "", "the network address whose block to lift")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		var name string
		if len(args) == 1 {
			name = args[0]
		}
		n, err := st.UnblockSignIn(ctx, server.Actor{}, name, address)
		if err != nil {
			return err
		}
		return a.print(map[string]any{"failures_cleared": n}, fmt.Sprintf("Sign-in block lifted (%d failed sign-ins forgotten).\n", n))
	})
	return cmd
}
