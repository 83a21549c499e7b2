module github.com/samvaer/sync

go 1.26.8

require (
	codeberg.org/go-pdf/fpdf v0.12.0 // PDF export of reports for the case system (the maintained fpdf)
	connectrpc.com/authn v0.1.0 // authentication middleware that runs before the body is read, streams included
	connectrpc.com/connect v1.21.1 // the RPC framework: Connect, gRPC and gRPC-Web from one handler
	connectrpc.com/grpchealth v1.4.0 // gRPC health checks for load balancers and probes
	connectrpc.com/grpcreflect v1.3.1 // reflection, so grpcurl and buf curl can list and call services
	github.com/boombuler/barcode v1.1.0 // the QR code of an authenticator app's enrolment, drawn as inline SVG (otp's own QR library)
	github.com/chromedp/cdproto v0.159.0 // browser tests: the DevTools protocol types chromedp speaks
	github.com/chromedp/chromedp v0.23.0 // browser tests: drives headless Chromium from Go tests
	github.com/coreos/go-oidc/v3 v3.21.0 // OpenID Connect sign-in: discovery, and the ID token's signature, issuer, audience and expiry checked (the library Kubernetes' tools and Dex use)
	github.com/gofrs/flock v0.13.1 // the command-line tablet's PIN-attempt count: one lock across processes sharing a home
	github.com/golang-jwt/jwt/v5 v5.3.1 // access tokens (EdDSA, algorithm pinned)
	github.com/google/renameio/v2 v2.0.2 // key files written by rename with a fixed mode, on both ends
	github.com/google/uuid v1.6.0 // UUIDv7 record ids made offline
	github.com/jackc/pgx/v5 v5.12.0 // the PostgreSQL store: the maintained pure-Go driver, used through database/sql so the domain code is the same as on SQLite; LISTEN/NOTIFY
	github.com/klauspost/compress v1.20.1 // gzip for the sync API's large responses, on both ends: the standard library's wire format, several times its speed (internal/wirezip)
	github.com/nicksnyder/go-i18n/v2 v2.7.0 // the words people see, Danish and English: message files per component, CLDR plural rules, fallback to Danish
	github.com/oauth2-proxy/mockoidc v0.0.0-20261103160011-e06ed0b7cb7f // tests: a real OpenID Connect provider in the test process (codes, PKCE, signed ID tokens), for the browser sign-in tests
	github.com/pquerna/otp v1.5.0 // TOTP second factor (RFC 6238), the codes every authenticator app reads from a QR code; small, widely used, no cgo
	github.com/prometheus/client_golang v1.25.0 // /metrics
	github.com/rs/zerolog v1.35.1 // structured JSON logs
	github.com/sergi/go-diff v1.4.0 // the diffs under the three-way text merge
	github.com/spf13/cobra v1.10.2 // the samvaer command line: flags in any position, generated help, suggestions; the library kubectl, gh and PocketBase use (pflag, no other dependencies)
	golang.org/x/crypto v0.58.0 // XChaCha20-Poly1305 sealing at rest, Argon2id for tablet PINs and web passwords, nacl/box sealed boxes for the tablet's observation drafts (the Go team's, no cgo)
	golang.org/x/image v0.47.0 // the Go fonts, embedded in exported PDFs so every Latin letter prints
	golang.org/x/oauth2 v0.38.0 // the authorization code flow with PKCE for OpenID Connect sign-in (the Go team's; go-oidc builds on it)
	golang.org/x/term v0.47.0 // console logs when a person is at a terminal; reading a PIN without echo
	golang.org/x/text v0.43.0 // matching a browser's Accept-Language (or a person's setting) to the languages offered
	google.golang.org/protobuf v1.36.12 // wire types, also the stored form of records
	modernc.org/sqlite v1.61.1 // SQLite in pure Go on both ends: no cgo for tablets or the server
	pgregory.net/rapid v1.3.0 // property tests of convergence and the merge
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.8 // indirect
	github.com/go-json-experiment/json v0.0.0-20260214004413-d219187c3433 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/mobile v0.0.0-20261011034528-197770444867 // indirect; gobind (the tool below) and the bind package it generates against
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
	modernc.org/libc v1.79.0 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
)

// gobind checks in CI that clientlib/mobile binds to Java and Objective-C (make bindcheck).
tool golang.org/x/mobile/cmd/gobind
