package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
)

// What an operator or a script sees at the edges of the running server.

// A call the server does not have is answered Unimplemented (HTTP 501 over Connect), with and
// without a token, and the answer is the same sentence for both: it names nothing but the
// mismatch of versions. A procedure of the contract still needs a valid token.
func TestAnUnknownProcedureIsUnimplemented(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	var messages []string
	for _, procedure := range []string{"/samvaer.v1.SyncService/PushEverything", "/samvaer.v1.AdminService/DropDatabase"} {
		client := connect.NewClient[emptypb.Empty, emptypb.Empty](http.DefaultClient, w.srv.URL()+procedure)
		for _, header := range []string{"", "Bearer " + tok, "Bearer garbage"} {
			req := connect.NewRequest(&emptypb.Empty{})
			if header != "" {
				req.Header().Set("Authorization", header)
			}
			_, err := client.CallUnary(ctx, req)
			if connect.CodeOf(err) != connect.CodeUnimplemented {
				t.Fatalf("%s with %q: %v, want Unimplemented", procedure, header, err)
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || !strings.Contains(ce.Message(), "no such call") {
				t.Fatalf("%s: message %v", procedure, err)
			}
			messages = append(messages, ce.Message())
		}
	}
	for _, m := range messages {
		if m != messages[0] {
			t.Fatalf("the answer depends on the caller: %q vs %q", m, messages[0])
		}
	}
	res, err := http.Post(w.srv.URL()+"/samvaer.v1.SyncService/PushEverything", "application/json", strings.NewReader("{}"))
	mustDo(t, err)
	res.Body.Close()
	if res.StatusCode != http.StatusNotImplemented {
		t.Fatalf("HTTP status %d, want 501", res.StatusCode)
	}
	pull := connect.NewClient[emptypb.Empty, emptypb.Empty](http.DefaultClient, w.srv.URL()+"/samvaer.v1.SyncService/Pull")
	if _, err := pull.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("Pull without a token: %v", err)
	}
}
