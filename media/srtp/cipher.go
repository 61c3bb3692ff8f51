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
	inKey   Crypto // what in was made with, to tell a re-key from a repeat
	inRTP   rtp.Header
	inRTCP  rtcp.Header
	sealMu  sync.Mutex
	out     *srtp.Context
	outKey  Crypto
	outRTP  rtp.Header
	outRTCP rtcp.Header
}

// NewCipher makes the cipher of a leg whose phone sends with remote and is sent to with local.
// Either side's MKI, when its line has one, is carried by (and expected in) its packets.
func NewCipher(local, remote Crypto) (*Cipher, error) {
	c := &Cipher{}
	if err := c.Rekey(local, remote); err != nil {
		return nil, err
	}
	return c, nil
}

// Rekey puts new keys in place, as a re-INVITE's offer and answer agree them. Only a direction
// whose key changed gets a new context: the other keeps its streams' rollover counts, which a
// fresh context would restart at 0 while the far end, whose key did not change, goes on
// counting (after 65536 packets, 22 minutes of G.711, every packet would then fail to
// authenticate). On an error neither direction has changed.
func (c *Cipher) Rekey(local, remote Crypto) error {
	c.openMu.Lock()
	defer c.openMu.Unlock()
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	in, out := c.in, c.out
	if in == nil || !remote.sameKey(c.inKey) {
		// Replay protection: a replayed packet is dropped, as RFC 3711 §3.3.2 asks.
		opts := []srtp.ContextOption{srtp.SRTPReplayProtection(128), srtp.SRTCPReplayProtection(128)}
		if len(remote.MKI) > 0 {
			opts = append(opts, srtp.MasterKeyIndicator(remote.MKI))
		}
		var err error
		if in, err = srtp.CreateContext(remote.Key, remote.Salt, remote.Suite.profile, opts...); err != nil {
			return fmt.Errorf("srtp: the phone's key: %w", err)
		}
	}
	if out == nil || !local.sameKey(c.outKey) {
		var opts []srtp.ContextOption
		if len(local.MKI) > 0 {
			opts = append(opts, srtp.MasterKeyIndicator(local.MKI))
		}
		var err error
		if out, err = srtp.CreateContext(local.Key, local.Salt, local.Suite.profile, opts...); err != nil {
			return fmt.Errorf("srtp: our key: %w", err)
		}
	}
	c.in, c.inKey = in, remote.clone()
	c.out, c.outKey = out, local.clone()
	return nil
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
