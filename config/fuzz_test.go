package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: whatever the file holds, Parse returns a config or Problems, each naming a key
// path (or the file) with a message; never a panic or a bare error.
func FuzzParse(f *testing.F) {
	f.Add(demoYAML)
	f.Add([]byte(minimal))
	f.Add([]byte("sip: {listen: [\"udp:127.0.0.1:5060\"], flood: {rate: 5, burst: 10, trust: [\"10.0.0.0/8\"]}, deny: [\"0.0.0.0/0\"]}\nusers: [{ext: \"1001\", ha1_md5: \"939e7578ed9e3c518a452acee763bce9\"}]\n"))
	f.Add([]byte("x-anchor: &a {password: p}\nusers: [{<<: *a, ext: \"1001\"}]\n"))
	f.Add([]byte("users: [{ext: 1001, password: a}, {ext: \"1001\", password: b}]\ngroups: [{ext: \"600\", members: [\"1001\", \"999\"]}]\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, dir)
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) {
			return // a file that is not YAML at all is one error, which is fine
		}
		if len(ps) == 0 {
			t.Fatal("empty Problems")
		}
		for _, p := range ps {
			if strings.TrimSpace(p.Message) == "" {
				t.Fatalf("a problem without a message at %q", p.Path)
			}
		}
	})
}
