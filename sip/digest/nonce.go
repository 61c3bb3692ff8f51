package digest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// A nonce is hex(issued || random || mac): issued is the issue time in Unix
// nanoseconds (8 bytes, big-endian), random is 8 bytes, and mac is the first
// 16 bytes of HMAC-SHA256(secret, issued || random). Hex keeps it a plain
// token inside a quoted-string for every client, and 128 bits of MAC is
// beyond forging.
const (
	nonceIDLen  = 16
	nonceMACLen = 16
	nonceRawLen = nonceIDLen + nonceMACLen
	nonceLen    = 2 * nonceRawLen
)

// nonceID is the issued || random part of a nonce: unique per challenge, so
// it keys the nonce-count table.
type nonceID [nonceIDLen]byte

func (id nonceID) issued() int64 { return int64(binary.BigEndian.Uint64(id[:8])) }

// macer is a reusable HMAC with its own buffers, so that neither the input
// nor the sum escapes to the heap through the hash.Hash interface.
type macer struct {
	h   hash.Hash
	in  nonceID
	sum [sha256.Size]byte
}

// mac returns the truncated HMAC of id. The result aliases m.
func (m *macer) mac(id nonceID) []byte {
	m.in = id
	m.h.Reset()
	m.h.Write(m.in[:])
	return m.h.Sum(m.sum[:0])[:nonceMACLen]
}

// newNonce mints a nonce issued at now (Unix nanoseconds).
func (s *Server) newNonce(now int64) string {
	var id nonceID
	binary.BigEndian.PutUint64(id[:8], uint64(now))
	rand.Read(id[8:]) // never fails: crypto/rand crashes the program instead

	var raw [nonceRawLen]byte
	copy(raw[:], id[:])
	m := s.macs.Get().(*macer)
	copy(raw[nonceIDLen:], m.mac(id))
	s.macs.Put(m)
	return hex.EncodeToString(raw[:])
}

// openNonce checks that nonce was minted with this server's secret and
// returns its ID. It reports false for anything else: a foreign nonce, a
// tampered one, or garbage.
func (s *Server) openNonce(nonce string) (nonceID, bool) {
	var raw [nonceRawLen]byte
	if !decodeHex(raw[:], nonce) {
		return nonceID{}, false
	}
	var id nonceID
	copy(id[:], raw[:nonceIDLen])
	m := s.macs.Get().(*macer)
	ok := hmac.Equal(m.mac(id), raw[nonceIDLen:])
	s.macs.Put(m)
	return id, ok
}
