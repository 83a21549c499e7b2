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

// userResetFactors removes a person's second factor (a lost phone).
func (a *admin) userResetFactors() *cobra.Command {
	cmd := &cobra.Command{Use: "reset-factors USER", Short: "remove the user's second factor and recovery codes (a lost phone); they set up a new one at the next sign-in",
		Args: argsExactly("USER")}
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if err := resolve(ctx, ref{st.FindUser, &args[0]}); err != nil {
			return err
		}
		u, err := st.ResetFactors(ctx, server.Actor{}, args[0])
		if err != nil {
			return err
		}
		return a.print(map[string]string{"factors_reset": u.Name}, fmt.Sprintf("The second factor of %s is reset; their browser sessions have ended.\n", u.Name))
	})
	return cmd
}

// userSet changes a user's settings: who they are at the identity provider.
func (a *admin) userSet() *cobra.Command {
	var subject string
	cmd := &cobra.Command{Use: "set USER --oidc-subject SUBJECT", Short: "set who the user is at the municipality's identity provider (\"\" clears it)",
		Args: argsExactly("USER")}
	cmd.Flags().StringVar(&subject, "oidc-subject", "", "the value of the configured claim (--oidc-claim) in the user's ID token")
	cmd.RunE = a.do(func(ctx context.Context, st *server.Store, args []string) error {
		if !cmd.Flags().Changed("oidc-subject") {
			return usageError("Say what to set: --oidc-subject SUBJECT.")
		}
		if err := resolve(ctx, ref{st.FindUser, &args[0]}); err != nil {
			return err
		}
		u, err := st.SetOIDCSubject(ctx, server.Actor{}, args[0], subject)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("%s signs in through the identity provider as %q.\n", u.Name, u.OIDCSubject)
		if u.OIDCSubject == "" {
			text = fmt.Sprintf("%s no longer signs in through the identity provider.\n", u.Name)
		}
		return a.print(u, text)
	})
	return cmd
}
