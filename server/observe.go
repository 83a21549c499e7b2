package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// Metrics carry procedures, codes and results as labels: never a value a person wrote.
var (
	metrics = prometheus.NewRegistry()

	rpcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samvaer_rpc_requests_total", Help: "RPCs served, by procedure and Connect code.",
	}, []string{"procedure", "code"})
	rpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "samvaer_rpc_duration_seconds", Help: "RPC handling time, by procedure.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	}, []string{"procedure"})
	pushedChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samvaer_pushed_changes_total", Help: "Pushed changes, by result.",
	}, []string{"result"})
	pulledChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "samvaer_pulled_changes_total", Help: "Committed changes sent to tablets.",
	})
	pulls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samvaer_pulls_total",
		Help: "Pulls answered, by how: in one statement (a tablet that holds its cases) or in a transaction (a first pull, a case new to the tablet, a snapshot that continues).",
	}, []string{"by"})
	historyMismatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samvaer_history_mismatches_total",
		Help: "Pushes and pulls refused because the tablet's history differs (a restore of either end), by kind; tablets repair them by themselves.",
	}, []string{"kind"})
)

func init() {
	metrics.MustRegister(rpcRequests, rpcDuration, pushedChanges, pulledChanges, pulls, historyMismatches,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

func countResults(results []*v1.ChangeResult) {
	for _, r := range results {
		pushedChanges.WithLabelValues(r.Result.String()).Inc()
	}
}

// withRequestID gives every HTTP request an id (the caller's X-Request-Id when it is sane), echoes
// it in the response, and puts a logger carrying it on the context.
func withRequestID(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		l := log.With().Str("request_id", id).Logger()
		next.ServeHTTP(w, r.WithContext(l.WithContext(r.Context())))
	})
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// logInterceptor logs every RPC with its procedure, device, code and duration, and counts it. It
// never logs a message body.
type logInterceptor struct{}

func (logInterceptor) finish(ctx context.Context, procedure string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	d := time.Since(start)
	rpcRequests.WithLabelValues(procedure, code).Inc()
	rpcDuration.WithLabelValues(procedure).Observe(d.Seconds())
	ev := zerolog.Ctx(ctx).Info()
	var ce *connect.Error
	if errors.As(err, &ce) && ce.Code() != connect.CodeCanceled {
		ev = zerolog.Ctx(ctx).Warn()
	}
	if id, err := identity(ctx); err == nil {
		ev = ev.Str("device", id.DeviceID).Str("user", id.UserID)
	}
	ev.Str("procedure", procedure).Str("code", code).Dur("duration", d).Msg("rpc")
}

func (l logInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		l.finish(ctx, req.Spec().Procedure, start, err)
		return res, err
	}
}

func (logInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (l logInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		l.finish(ctx, conn.Spec().Procedure, start, err)
		return err
	}
}
