package digest

import (
	"errors"
	"fmt"
)

// Errors returned by [Server.Verify], wrapped with detail; test them with
// errors.Is. Each one suggests a different answer from the caller, noted
// beside it.
var (
	// ErrNoCredentials means the header value was empty: challenge the client.
	ErrNoCredentials = errors.New("digest: no credentials")

	// ErrMalformed means the value could not be parsed or lacks a required
	// parameter: answer 400, or challenge again.
	ErrMalformed = errors.New("digest: malformed credentials")

	// ErrUnsupported means the value is well formed but asks for something
	// this package does not do (qop=auth-int, an unknown algorithm). It wraps
	// ErrMalformed, so callers that only know ErrMalformed still treat it as
	// a bad request.
	ErrUnsupported = fmt.Errorf("%w: unsupported", ErrMalformed)

	// ErrRealm means the credentials are for another realm: challenge again.
	ErrRealm = errors.New("digest: realm mismatch")

	// ErrUnknownUser means lookup did not know the username: answer 403 or
	// challenge again, without telling the client which.
	ErrUnknownUser = errors.New("digest: unknown user")

	// ErrBadResponse means the response does not match, usually a wrong
	// password: answer 403 or challenge again.
	ErrBadResponse = errors.New("digest: response mismatch")

	// ErrNoHash means the client answered in an algorithm for which the
	// user's Secret holds no HA1 (and no password), so the response cannot be
	// checked: the directory lacks that hash, the client need not be wrong.
	// It wraps ErrBadResponse, so callers that only know ErrBadResponse refuse
	// it as a wrong password, and the client is told nothing different.
	ErrNoHash = fmt.Errorf("%w: no stored hash", ErrBadResponse)

	// ErrStale means the response was right but the nonce has expired:
	// challenge again with stale=true so the client retries without asking
	// the user for a password.
	ErrStale = errors.New("digest: stale nonce")

	// ErrBadNonce means the nonce was not issued by this server's secret or
	// was altered: challenge again.
	ErrBadNonce = errors.New("digest: invalid nonce")

	// ErrReplay means the nonce-count was not greater than the last one
	// accepted for this nonce: the request is a replay or a duplicate;
	// answer 403 or challenge again.
	ErrReplay = errors.New("digest: nonce-count replayed")
)

// clip shortens attacker-supplied text before it goes into an error message,
// so a huge header cannot turn into a huge log line.
func clip(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
