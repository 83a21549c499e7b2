package main

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// ServeCommand runs the sync server; tests start it in-process.
type ServeCommand struct {
	Stderr io.Writer
}

// Run serves with the flags in args until ctx is done.
func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	return run(ctx, append([]string{"serve"}, args...), nil, io.Discard, c.Stderr)
}

func newServeCmd(e *env) *cobra.Command {
	cfg := server.DefaultConfig()
	var logFormat, municipality string
	var oidcCfg web.OIDCConfig
	localPasswords := true
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the sync server (Connect, gRPC, gRPC-Web and the browser pages)",
		Args:  argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = newLogger(e.stderr, logFormat)
			cfg.Zone = e.zone() // --zone or SAMVAER_ZONE, as for every command
			cfg.Database = database(cfg.Database)
			if err := cfg.Validate(); err != nil {
				return usageError("%s.", err.Error())
			}
			wcfg := web.Config{Secure: cfg.TLSCert != "", Logger: cfg.Logger, Location: cfg.Zone, Municipality: municipality, NoLocalPasswords: !localPasswords}
			if oidcCfg.Issuer != "" {
				oidcCfg.ClientSecret = os.Getenv(oidcSecretEnv)
				if err := oidcCfg.Validate(); err != nil {
					return usageError("%s.", err.Error())
				}
				wcfg.OIDC = &oidcCfg
			} else if !localPasswords {
				return usageError("--local-passwords=false needs sign-in through an identity provider (--oidc-issuer and the rest).")
			}
			return serve(cmd.Context(), cfg, wcfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (created if missing; holds kek.json, the key-encryption key, unless SAMVAER_KEK is set)")
	databaseFlag(f, &cfg.Database)
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (PEM)")
	f.DurationVar(&cfg.ReportOverdue, "report-overdue", cfg.ReportOverdue, "how long after a supervised visit's end its report is flagged overdue")
	f.IntVar(&cfg.SignIn.MaxFailures, "signin-max-failures", cfg.SignIn.MaxFailures, "failed sign-ins for one name within --signin-window that block it")
	f.IntVar(&cfg.SignIn.MaxAddressFailures, "signin-max-address-failures", cfg.SignIn.MaxAddressFailures, "failed sign-ins from one address within --signin-window that block it")
	f.DurationVar(&cfg.SignIn.Window, "signin-window", cfg.SignIn.Window, "how far back failed sign-ins count")
	f.DurationVar(&cfg.SignIn.Block, "signin-block", cfg.SignIn.Block, "how long a block lasts after the newest failure (an admin can lift it sooner)")
	f.StringVar(&cfg.SecondFactor, "require-second-factor", envOr(secondFactorEnv, cfg.SecondFactor), "which local accounts must set up a second factor (an authenticator app): admins, all or none (or "+secondFactorEnv+")")
	retentionFlags(cmd, &cfg.Retention)
	f.DurationVar(&cfg.RetentionEvery, "retention-every", cfg.RetentionEvery, "how often the retention job runs (0: never; run 'admin retention run' instead)")
	f.StringVar(&logFormat, "log", "auto", "log format: json, console, or auto (console on a terminal)")
	e.zoneFlag(cmd)
	f.StringVar(&municipality, "municipality", "", "the municipality's name, printed in the head of every exported report")
	f.StringVar(&oidcCfg.Issuer, "oidc-issuer", "", "sign-in through the municipality's OpenID Connect provider: its issuer URL")
	f.StringVar(&oidcCfg.ClientID, "oidc-client-id", "", "this server's client id at the provider (the client secret is read from "+oidcSecretEnv+")")
	f.StringVar(&oidcCfg.RedirectURL, "oidc-redirect-url", "", "this server's callback as registered at the provider: its public address and "+web.OIDCCallbackPath)
	f.StringVar(&oidcCfg.Claim, "oidc-claim", "sub", "the ID token claim matched to a user's --oidc-subject (sub, email, preferred_username, …)")
	f.StringVar(&oidcCfg.Name, "oidc-name", "", "the provider's name on the sign-in button, \"Log ind med NAME\" (default \"kommunens login\")")
	f.BoolVar(&localPasswords, "local-passwords", true, "allow signing in with a name and password (false: only through the identity provider)")
	return cmd
}

// databaseEnv names the environment variable that sets the database when --database is not given.
const databaseEnv = "SAMVAER_DATABASE"

// databaseFlag adds --database; when it is not given, database reads SAMVAER_DATABASE (a password
// is better kept there, or in ~/.pgpass, than on a command line other users can list; for the
// same reason the help never prints the variable's value).
func databaseFlag(f *pflag.FlagSet, target *string) {
	f.StringVar(target, "database", "", "a PostgreSQL database (postgres://user@host:5432/name) to store in instead of SQLite in --data; several servers may share one (default $"+databaseEnv+")")
}

// database is the --database given, or else SAMVAER_DATABASE.
func database(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv(databaseEnv)
}

// oidcSecretEnv holds the OpenID Connect client secret (not a flag: flags show in process lists).
const oidcSecretEnv = "SAMVAER_OIDC_CLIENT_SECRET"

// serve runs the server with its pages until ctx is done.
func serve(ctx context.Context, cfg server.Config, wcfg web.Config) error {
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	pages, err := web.New(srv.Store, wcfg)
	if err != nil {
		srv.Close()
		return err
	}
	srv.Mount("/", pages)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close()
		return err
	}
	return srv.Serve(ctx, ln)
}

// newLogger logs JSON, or a console format for a person at a terminal. Requests log from many
// goroutines, so the writer is serialized.
func newLogger(w io.Writer, format string) zerolog.Logger {
	console := format == "console" || (format == "auto" && isTerminal(w))
	w = zerolog.SyncWriter(w)
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// secondFactorEnv sets --require-second-factor when the flag is not given.
const secondFactorEnv = "SAMVAER_REQUIRE_SECOND_FACTOR"

// envOr is the environment variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
