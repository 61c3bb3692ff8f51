package srtp

import (
	"fmt"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// Cipher is a leg's SRTP: it decrypts what the phone sends with the phone's key and encrypts
// what the switch sends with the switch's, RTP and RTCP alike. It implements media.Cipher. Each
// direction has a lock of its own (pion's contexts keep per-stream state); the headers are
// reused, so the steady state allocates nothing.
type Cipher struct {
	openMu  sync.Mutex
	in      *srtp.Context
	inRTP   rtp.Header
	inRTCP  rtcp.Header
	sealMu  sync.Mutex
	out     *srtp.Context
	outRTP  rtp.Header
	outRTCP rtcp.Header
}

// NewCipher makes the cipher of a leg whose phone sends with remote and is sent to with local.
// Either side's MKI, when its line has one, is carried by (and expected in) its packets.
func NewCipher(local, remote Crypto) (*Cipher, error) {
	// Replay protection: a replayed packet is dropped, as RFC 3711 §3.3.2 asks.
	inOpts := []srtp.ContextOption{srtp.SRTPReplayProtection(128), srtp.SRTCPReplayProtection(128)}
	if len(remote.MKI) > 0 {
		inOpts = append(inOpts, srtp.MasterKeyIndicator(remote.MKI))
	}
	in, err := srtp.CreateContext(remote.Key, remote.Salt, remote.Suite.profile, inOpts...)
	if err != nil {
		return nil, fmt.Errorf("srtp: the phone's key: %w", err)
	}
	var outOpts []srtp.ContextOption
	if len(local.MKI) > 0 {
		outOpts = append(outOpts, srtp.MasterKeyIndicator(local.MKI))
	}
	out, err := srtp.CreateContext(local.Key, local.Salt, local.Suite.profile, outOpts...)
	if err != nil {
		return nil, fmt.Errorf("srtp: our key: %w", err)
	}
	return &Cipher{in: in, out: out}, nil
}

// Open authenticates and decrypts pkt in place.
func (c *Cipher) Open(pkt []byte, isRTCP bool) ([]byte, error) {
	c.openMu.Lock()
	defer c.openMu.Unlock()
	if isRTCP {
		return c.in.DecryptRTCP(pkt[:0], pkt, &c.inRTCP)
	}
	return c.in.DecryptRTP(pkt[:0], pkt, &c.inRTP)
}

// Seal writes the encrypted and authenticated form of pkt into dst's storage (grown if too
// small) and returns it.
func (c *Cipher) Seal(dst, pkt []byte, isRTCP bool) ([]byte, error) {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	if isRTCP {
		return c.out.EncryptRTCP(dst, pkt, &c.outRTCP)
	}
	return c.out.EncryptRTP(dst, pkt, &c.outRTP)
}
