package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// keyOf turns an extension into one token of a bucket key: letters, digits, '-' and '_' stay,
// every other byte (a '.', which separates tokens, a '+', a space) becomes "=XX" in hex, so
// that any configured extension has a key and the key gives it back.
func keyOf(ext string) string {
	plain := true
	for i := 0; i < len(ext); i++ {
		if !keyByte(ext[i]) {
			plain = false
			break
		}
	}
	if plain {
		return ext
	}
	var b strings.Builder
	for i := 0; i < len(ext); i++ {
		c := ext[i]
		if keyByte(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// extOf undoes keyOf; false for a token keyOf would not have made.
func extOf(key string) (string, bool) {
	if !strings.Contains(key, "=") {
		return key, key != ""
	}
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c != '=' {
			b.WriteByte(c)
			continue
		}
		if i+3 > len(key) {
			return "", false
		}
		v, err := strconv.ParseUint(key[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// deleteKey deletes key from kv; a key already gone is fine (another node, or an earlier
// try, deleted it).
func deleteKey(ctx context.Context, kv jetstream.KeyValue, key string) error {
	if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	return nil
}

// claimKey is agent's key in the queues bucket while a node holds them.
func claimKey(agent string) string { return "a." + keyOf(agent) }

// userKey is node's key for ext in the users bucket.
func userKey(node, ext string) string { return node + "." + keyOf(ext) }

// splitUserKey parses a users bucket key; false for a key of another shape.
func splitUserKey(key string) (node, ext string, ok bool) {
	node, tok, found := strings.Cut(key, ".")
	if !found || node == "" || strings.Contains(tok, ".") {
		return "", "", false
	}
	ext, ok = extOf(tok)
	return node, ext, ok
}
