// Package digest is the server side of Digest access authentication as SIP
// uses it (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).
//
// A [Server] serves one realm. It issues challenges for WWW-Authenticate or
// Proxy-Authenticate and verifies the matching Authorization or
// Proxy-Authorization values. It supports MD5 and SHA-256 (and their -sess
// variants), qop=auth, and the RFC 2069 form without qop that some old phones
// still send. It does not support qop=auth-int or userhash.
//
// The server need not know passwords: a [Secret] may hold only the HA1s, the
// hashes of "user:realm:password" per algorithm ([HA1] computes them), which is
// all a response is checked against. Challenges are the same for every user,
// so a user whose Secret lacks one algorithm's HA1 fails a response in it
// ([ErrNoHash]); callers store a hash for each algorithm they challenge with.
//
// Nonces carry their own issue time and an HMAC, so any Server holding the
// same secret can check them without shared state; the only state kept is the
// highest nonce-count accepted per nonce, which stops replays and is dropped
// once the nonce expires.
//
// The package does not log: every failure is a sentinel error from errors.go,
// wrapped with detail, for the caller to map to a SIP response.
package digest
