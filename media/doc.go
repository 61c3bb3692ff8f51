// Package media anchors a call's audio in the switch: it hands out RTP/RTCP
// port pairs (Ports), binds one Endpoint per call leg, relays packets between
// the two legs of a call (Relay), and rewrites SDP offers and answers so that
// each phone sends its media to the switch (RewriteOffer, RewriteAnswer).
//
// The package returns errors (ErrPortsExhausted, ErrNoCommonCodec,
// ErrBadSDP) and never logs; the SIP layer maps them to responses and logs
// with the call's context. Media is relayed without transcoding: the SDP
// rewriting only lets through codecs the relay carries unchanged.
package media
