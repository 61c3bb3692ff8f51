package sip

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/sip/digest"
)

// authenticate checks the request's digest credentials and answers the challenge itself when they
// are missing or wrong. REGISTER is challenged with 401/WWW-Authenticate, everything else with
// 407/Proxy-Authenticate, as phones expect from a registrar and a proxy-like switch. It returns
// the authenticated extension, or ok=false when the request has been answered already.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction) (ext string, ok bool) {
	code, reason, challengeName := 407, "Proxy Authentication Required", "Proxy-Authenticate"
	if req.Method == sip.REGISTER {
		code, reason, challengeName = 401, "Unauthorized", "WWW-Authenticate"
	}
	var hdr sip.Header
	for _, name := range []string{"Proxy-Authorization", "Authorization"} {
		// Credentials of a scheme other than Digest are none the switch can check: the
		// request is challenged as if it had none (RFC 4475 §3.3.7), not refused.
		if h := headerNamed(req, name); h != nil && isDigest(h.Value()) {
			hdr = h
			break
		}
	}
	stale := false
	if hdr != nil {
		src, claimed := sourceAddr(req), digest.Username(hdr.Value())
		if s.guesses.blocked(src, claimed) {
			// No challenge: a guesser gets nothing more to try with until the block ends.
			s.log.Warn("sip auth blocked", zap.String("source_ip", src.String()), zap.String("user", claimed),
				zap.String("method", string(req.Method)))
			s.obs.AuthFailed(AuthBlocked)
			s.respondStatelessly(tx, sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return "", false
		}
		user, err := s.auth.Verify(string(req.Method), hdr.Value(), s.secret)
		if err == nil {
			ext := s.extOf(user)
			s.guesses.succeeded(src, claimed)
			return ext, true
		}
		stale = errors.Is(err, digest.ErrStale)
		s.obs.AuthFailed(authFailure(err))
		if errors.Is(err, digest.ErrBadResponse) || errors.Is(err, digest.ErrUnknownUser) {
			// One line per failure, for fail2ban and friends: the address and the user name. The
			// error tells the operator a wrong password from a hash the directory lacks
			// (digest.ErrNoHash: the phone answered an algorithm the user has no hash for).
			s.log.Warn("sip auth failed", zap.String("source_ip", src.String()), zap.String("user", claimed),
				zap.String("method", string(req.Method)), zap.String("call_id", callIDOf(req)), zap.Error(err))
			if s.guesses.failed(src, claimed) {
				s.log.Warn("sip auth blocked", zap.String("source_ip", src.String()), zap.String("user", claimed),
					zap.Duration("for", guessBlock))
			}
		} else {
			s.log.Info("authentication failed", zap.String("call_id", callIDOf(req)),
				zap.String("method", string(req.Method)), zap.String("source", req.Source()), zap.Error(err))
		}
		if !stale && !errors.Is(err, digest.ErrBadNonce) && !errors.Is(err, digest.ErrReplay) &&
			!errors.Is(err, digest.ErrBadResponse) && !errors.Is(err, digest.ErrUnknownUser) {
			// Credentials we cannot even read: tell the phone so instead of looping on challenges.
			if errors.Is(err, digest.ErrMalformed) {
				_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Authorization Header", nil))
				return "", false
			}
		}
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, c := range s.auth.ChallengesIn(s.challenges.For(req), stale) {
		res.AppendHeader(sip.NewHeader(challengeName, c))
	}
	s.respondStatelessly(tx, res)
	return "", false
}

// respondStatelessly ends the transaction and sends res once, straight to the transport, as
// Kamailio's sl_send_reply does: a challenge (or a refusal) to an unverified source is not
// retransmitted until an ACK comes, which sent eleven copies of every 407 to whatever address a
// request claimed to be from. A phone whose challenge was lost retransmits its request and is
// challenged anew; the ACK of a challenged INVITE finds no transaction and onAck drops it. The
// transaction ends first, so a retransmission arriving right after the answer is not taken
// for a retransmission of a live transaction.
func (s *Server) respondStatelessly(tx sip.ServerTransaction, res *sip.Response) {
	c, ok := tx.(interface{ Connection() sip.Connection })
	if !ok {
		_ = tx.Respond(res)
		tx.Terminate()
		return
	}
	tx.Terminate()
	_ = c.Connection().WriteMsg(res)
}

// secret is what is known of a user name's digest password: an extension's own HA1s, or a
// short-lived credential's password.
func (s *Server) secret(user string) (digest.Secret, bool) {
	if sec, ok := s.opts.Users.Secret(user); ok {
		return sec, true
	}
	if s.opts.Tokens != nil {
		if _, p, ok := s.opts.Tokens.Password(user); ok {
			return digest.Secret{Password: p}, true
		}
	}
	return digest.Secret{}, false
}

// extOf is the extension an authenticated user name stands for.
func (s *Server) extOf(user string) string {
	if _, ok := s.opts.Users.Secret(user); ok || s.opts.Tokens == nil {
		return user
	}
	if ext, _, ok := s.opts.Tokens.Password(user); ok {
		return ext
	}
	return user
}

// isDigest reports whether an Authorization value is of the Digest scheme.
func isDigest(v string) bool {
	scheme, _, _ := strings.Cut(strings.TrimLeft(v, " \t"), " ")
	return strings.EqualFold(scheme, "Digest")
}
