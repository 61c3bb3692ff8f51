package sortid

import (
	"sort"
	"testing"
	"time"
)

func TestIDsSortInTheOrderMadeEvenWithAStuckClock(t *testing.T) {
	var g Generator
	at := time.Date(2026, 11, 25, 7, 45, 12, 123e6, time.UTC)
	var ids []string
	for i := 0; i < 5; i++ {
		id, _ := g.New(at) // the same instant every time
		if !Valid(id) || len(id) != 28 {
			t.Fatalf("id %q", id)
		}
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) || ids[0][:19] != "20261125T074512123Z" {
		t.Fatalf("ids %v", ids)
	}
}

func TestValid(t *testing.T) {
	for id, want := range map[string]bool{
		"20261125T074512123Z-1a2b3c4d": true, "a_b-C9": true, "": false, "../etc": false,
		"a.wav": false, "a/b": false, "a\\b": false, string(make([]byte, 65)): false,
	} {
		if Valid(id) != want {
			t.Errorf("Valid(%q) = %v", id, !want)
		}
	}
}

func TestTimeReadsBackWhatNewWrote(t *testing.T) {
	var g Generator
	want := time.Date(2026, 12, 3, 18, 30, 5, 123_000_000, time.UTC)
	id, at := g.New(want)
	got, err := Time(id)
	if err != nil || !got.Equal(at) || !at.Equal(want) {
		t.Fatalf("Time(%q) = %v, %v; want %v", id, got, err, want)
	}
	for _, bad := range []string{"", "2026", "20261203T183005123X-ab", "2026120xT183005123Z-ab"} {
		if _, err := Time(bad); err == nil {
			t.Errorf("Time(%q) accepted", bad)
		}
	}
}
