package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"connectrpc.com/authn"
	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/internal/pgdb"
	"github.com/samvaer/sync/internal/wirezip"
)

// Config is the server's configuration. DefaultConfig gives values that run with no setup.
type Config struct {
	// DataDir holds the keys, and the SQLite database unless Database is set.
	DataDir string
	// Database, when set, is the PostgreSQL database (postgres://...) the server stores in; any
	// number of servers on one database are one server (docs/operations.md).
	Database string
	Listen   string
	// TLSCert and TLSKey, when both set, serve HTTPS; otherwise HTTP with cleartext HTTP/2 (for
	// gRPC) on a trusted network or behind a TLS-terminating proxy.
	TLSCert, TLSKey string
	// MaxMessageBytes bounds every request message.
	MaxMessageBytes int
	// CompressMinBytes: responses smaller than this are sent uncompressed (gzip costs more than
	// it saves on small or incompressible messages).
	CompressMinBytes int
	// SubscribePoll is how often the commit feed of Subscribe streams looks for changes made by
	// other processes without a notification (admin commands on SQLite).
	SubscribePoll   time.Duration
	ShutdownTimeout time.Duration
	Logger          zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReportOverdue is how long after a supervised visit's end its report is flagged overdue.
	ReportOverdue time.Duration
	// SignIn says when failed sign-ins block (see SignInPolicy).
	SignIn SignInPolicy
	// SecondFactor says which local accounts must have a second factor: FactorsForAdmins (the
	// default), FactorsForAll or FactorsForNone.
	SecondFactor string
	// Retention says how long reports, closed cases and audit entries are kept; the job runs at
	// start and every RetentionEvery (0: never, for a server whose retention runs elsewhere).
	Retention      RetentionPolicy
	RetentionEvery time.Duration
	// Zone is the zone every time a person reads is shown in; nil means Europe/Copenhagen.
	Zone *time.Location
}

// DefaultConfig runs on loopback with a data directory in the working directory.
func DefaultConfig() Config {
	return Config{
		DataDir:          "samvaer-data",
		Listen:           "127.0.0.1:8080",
		MaxMessageBytes:  16 << 20,
		CompressMinBytes: 64 << 10,
		SubscribePoll:    time.Second,
		ShutdownTimeout:  30 * time.Second,
		Logger:           zerolog.Nop(),
		ReportOverdue:    72 * time.Hour,
		SignIn:           DefaultSignInPolicy(),
		SecondFactor:     FactorsForAdmins,
		Retention:        DefaultRetentionPolicy(),
		RetentionEvery:   24 * time.Hour,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("a data directory is required")
	case c.Listen == "":
		return errors.New("a listen address is required")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("TLS needs both a certificate and a key")
	case c.MaxMessageBytes <= 0 || c.SubscribePoll <= 0:
		return errors.New("message size limit and subscribe poll interval must be positive")
	case c.RetentionEvery < 0:
		return errors.New("the retention interval must not be negative")
	case c.Retention.Validate() != nil:
		return c.Retention.Validate()
	case c.SecondFactor != "" && !ValidSecondFactor(c.SecondFactor):
		return errors.New("the second-factor requirement is admins, all or none")
	case c.SignIn.MaxFailures < 0 || c.SignIn.MaxAddressFailures < 0 || c.SignIn.Window < 0 || c.SignIn.Block < 0:
		return errors.New("the sign-in limits must not be negative")
	}
	return nil
}

// Server is a running Samvær sync server.
type Server struct {
	cfg      Config
	Store    *Store
	tokens   *Tokens
	handler  http.Handler
	mux      *http.ServeMux
	stopping chan struct{}
	notifier *notifier // wakes the commit feed on a commit here (and on PostgreSQL, anywhere)
	feed     *commitFeed
}

// New opens the store in cfg.DataDir and builds the HTTP handler.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store, err := OpenStoreOn(cfg.DataDir, cfg.Database, cfg.Now)
	if err != nil {
		return nil, err
	}
	if store.pg != nil {
		if err := store.pg.Analyze(ctx); err != nil {
			store.Close()
			return nil, err
		}
	}
	tokens, err := NewTokens(ctx, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	store.ReportOverdue = cfg.ReportOverdue
	store.SignInPolicy = cfg.SignIn
	store.SecondFactor = cfg.SecondFactor
	store.Zone = cfg.Zone
	s := &Server{cfg: cfg, Store: store, tokens: tokens, stopping: make(chan struct{}), notifier: newNotifier()}
	s.feed = newCommitFeed(store, cfg.SubscribePoll, s.notifier)
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	opts := []connect.HandlerOption{
		connect.WithInterceptors(logInterceptor{}),
		connect.WithReadMaxBytes(s.cfg.MaxMessageBytes),
		connect.WithCompressMinBytes(s.cfg.CompressMinBytes),
		wirezip.Handler(),
	}
	rpc := http.NewServeMux()
	rpc.Handle(samvaerv1connect.NewSyncServiceHandler(&syncHandler{store: s.Store, notifier: s.notifier, feed: s.feed, stopping: s.stopping}, opts...))
	rpc.Handle(samvaerv1connect.NewAuthServiceHandler(&authHandler{store: s.Store, tokens: s.tokens}, opts...))
	rpc.Handle(samvaerv1connect.NewReportServiceHandler(&reportHandler{store: s.Store}, opts...))
	rpc.Handle(samvaerv1connect.NewCaseServiceHandler(&caseHandler{store: s.Store}, opts...))
	rpc.Handle(samvaerv1connect.NewAdminServiceHandler(&adminHandler{store: s.Store}, opts...))
	rpc.Handle(samvaerv1connect.NewDeviceServiceHandler(&deviceHandler{store: s.Store}, opts...))
	auth := authn.NewMiddleware(func(ctx context.Context, req authn.Request) (any, error) {
		id, err := s.authorize(ctx, req.Procedure(), req.Header().Get("Authorization"))
		if err != nil {
			return nil, refuse(ctx, req.Procedure(), err)
		}
		return id, nil
	})

	mux := http.NewServeMux()
	services := []string{samvaerv1connect.SyncServiceName, samvaerv1connect.AuthServiceName,
		samvaerv1connect.ReportServiceName, samvaerv1connect.CaseServiceName,
		samvaerv1connect.AdminServiceName, samvaerv1connect.DeviceServiceName}
	for _, svc := range services {
		mux.Handle("/"+svc+"/", auth.Wrap(rpc))
	}
	mux.Handle(grpchealth.NewHandler(healthChecker{static: grpchealth.NewStaticChecker(services...), store: s.Store}))
	reflector := grpcreflect.NewStaticReflector(services...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	s.mux = mux
	return withRequestID(s.cfg.Logger, mux)
}

// Mount serves h at pattern beside the RPC services, e.g. the web pages at "/". Call it before
// Serve.
func (s *Server) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the server's HTTP handler (Connect, gRPC and gRPC-Web on one mux).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx is done, then shuts down gracefully: it stops accepting, ends
// Subscribe streams, lets in-flight pushes finish (each is one transaction, so nothing is ever
// half-applied), and closes the store.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	store := "sqlite"
	if s.cfg.Database != "" {
		store = pgdb.Redact(s.cfg.Database)
	}
	s.cfg.Logger.Info().Str("addr", ln.Addr().String()).Str("data", s.cfg.DataDir).Str("database", store).Msg("serving")
	retentionDone := make(chan struct{})
	go s.retentionLoop(retentionDone)
	listenCtx, stopListening := context.WithCancel(context.Background())
	defer stopListening()
	go s.Store.listenForCommits(listenCtx, s.notifier.poke)
	go s.feed.run(s.cfg.Logger.WithContext(listenCtx))
	select {
	case err := <-errc:
		close(s.stopping)
		<-retentionDone
		s.Store.Close()
		return err
	case <-ctx.Done():
	}
	s.cfg.Logger.Info().Msg("shutting down")
	close(s.stopping)
	<-retentionDone
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if err != nil {
		// A client holding a stream open past the timeout does not keep the process alive.
		srv.Close()
	}
	if cerr := s.Store.Close(); err == nil {
		err = cerr
	}
	return err
}

// retentionLoop runs the retention job at start and every RetentionEvery until the server stops.
// A failed run is logged (counts and errors only) and tried again at the next tick.
func (s *Server) retentionLoop(done chan<- struct{}) {
	defer close(done)
	if s.cfg.RetentionEvery <= 0 {
		return
	}
	tick := time.NewTicker(s.cfg.RetentionEvery)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		res, err := s.Store.RunRetention(ctx, Actor{}, s.cfg.Retention, false)
		cancel()
		if err != nil {
			s.cfg.Logger.Error().Err(err).Msg("retention run failed")
		} else if res.Records+res.AuditEntries > 0 {
			s.cfg.Logger.Info().Int64("reports", res.Reports).Int64("cases", res.Cases).Int64("records", res.Records).
				Int64("changes", res.Changes).Int64("audit_entries", res.AuditEntries).Msg("retention run")
		}
		select {
		case <-s.stopping:
			return
		case <-tick.C:
		}
	}
}

// Close releases the store of a server that is not serving.
func (s *Server) Close() error { return s.Store.Close() }
