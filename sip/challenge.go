package sip

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/sip/digest"
)

// challengeOrder decides which digest challenges a request gets, and in what order. RFC 8760
// has a phone answer the first challenge it supports, which would make ["SHA-256", "MD5"] right
// for everyone, but phones in the field break on it: SIPp answers only the first challenge,
// Debian's baresip 1.0 refuses a 401 with two, JsSIP gives up on a first one that is not MD5. So
// the operator's list (sip.digest_algorithms, MD5 by default) is what phones get, and phones
// whose User-Agent names one known to take SHA-256 (sip.digest_sha256_agents: Linphone, tested)
// get SHA-256 first and the rest after it. The choice depends on the phone's software only,
// never on the user it claims, so the challenge tells a scanner nothing about extensions.
type challengeOrder struct {
	base        []string // Options.Algorithms, or digest.DefaultAlgorithms
	sha256First []string // SHA-256, then base without it
	agents      []string // lower case
}

func newChallengeOrder(algorithms, agents []string) challengeOrder {
	base := algorithms
	if len(base) == 0 {
		base = digest.DefaultAlgorithms
	}
	o := challengeOrder{base: base, sha256First: []string{"SHA-256"}}
	for _, alg := range base {
		if alg != "SHA-256" {
			o.sha256First = append(o.sha256First, alg)
		}
	}
	for _, a := range agents {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
			o.agents = append(o.agents, a)
		}
	}
	return o
}

// For returns the algorithms to challenge req with, most preferred first.
func (o challengeOrder) For(req *sip.Request) []string {
	if len(o.agents) == 0 {
		return o.base
	}
	h := headerNamed(req, "User-Agent")
	if h == nil {
		return o.base
	}
	ua := strings.ToLower(h.Value())
	for _, a := range o.agents {
		if strings.Contains(ua, a) {
			return o.sha256First
		}
	}
	return o.base
}
