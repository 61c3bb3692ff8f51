package directory

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-voip/switchboard/config"
)

// benchDirectory is a directory of n users (with their hashes, as stored), ten groups and ten
// queues of 20 members each, in a bbolt file.
func benchDirectory(b *testing.B, n int) *Directory {
	b.Helper()
	var y strings.Builder
	y.WriteString("sip: {listen: [\"udp:127.0.0.1:0\"]}\nusers:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - {ext: \"%d\", name: User %d, password: pw-%d}\n", 10000+i, i, i)
	}
	for _, kind := range []string{"groups", "queues"} {
		y.WriteString(kind + ":\n")
		for g := range 10 {
			members := make([]string, 20)
			for m := range members {
				members[m] = fmt.Sprintf("%q", fmt.Sprint(10000+g*20+m))
			}
			base := 2000
			if kind == "queues" {
				base = 3000
			}
			fmt.Fprintf(&y, "  - {ext: \"%d\", name: %s %d, members: [%s]}\n", base+g, kind, g, strings.Join(members, ", "))
		}
	}
	cfg, err := config.Parse([]byte(y.String()+"data_dir: "+b.TempDir()+"\n"), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	db := openBolt(&testing.T{}, filepath.Join(b.TempDir(), "switchboard.db"))
	b.Cleanup(func() { _ = db.Close() })
	store, err := NewBoltStore(db)
	if err != nil {
		b.Fatal(err)
	}
	d, _, err := Open(cfg, store, hashOf)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkUpdate is one admin change (a user's name) to a directory of 1,000 users: copied,
// checked as a file, written as YAML and committed to bbolt (with its fsync), then current.
func BenchmarkUpdate(b *testing.B) {
	d := benchDirectory(b, 1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := d.Update("10000", func(dir *config.Directory) error {
			dir.Users[5].Name = fmt.Sprint("Renamed ", i)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookup is what a REGISTER asks of the directory: one user by extension, from the
// current version, without a lock.
func BenchmarkLookup(b *testing.B) {
	d := benchDirectory(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := d.Config().User("10500"); !ok {
			b.Fatal("no user 10500")
		}
	}
}
