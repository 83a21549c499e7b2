package syncer

import "strconv"

// TokenAudience and TokenIssuer are the fixed claims of access tokens.
const (
	TokenIssuer   = "samvaer"
	TokenAudience = "samvaer-sync"
)

// TokenSigningPayload is the exact byte string a tablet signs with its device key to ask for an
// access token, and the server verifies. The prefix keeps the signature from meaning anything
// else.
func TokenSigningPayload(deviceID, nonce string, timeMs int64) []byte {
	return []byte("samvaer-token-request-v1\n" + deviceID + "\n" + nonce + "\n" + strconv.FormatInt(timeMs, 10))
}

// WipeSigningPayload is the exact byte string a revoked tablet signs to confirm that it deleted
// its data, with the number of its changes that never reached the server.
func WipeSigningPayload(deviceID, nonce string, timeMs, unsentChanges int64) []byte {
	return []byte("samvaer-wipe-confirmation-v1\n" + deviceID + "\n" + nonce + "\n" + strconv.FormatInt(timeMs, 10) +
		"\n" + strconv.FormatInt(unsentChanges, 10))
}
