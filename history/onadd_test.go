package history

import (
	"errors"
	"slices"
	"testing"
)

// TestOnAddTellsEachStoredRecordOnce: every record Add stores is told once, as stored (with its
// id); a record refused as invalid or as already stored (a cluster import arriving twice) is
// not told, so counts kept from OnAdd never count a call twice.
func TestOnAddTellsEachStoredRecordOnce(t *testing.T) {
	e := newEnv(t)
	var told []Record
	e.s.OnAdd(func(r Record) { told = append(told, r) })

	a := e.add(t, call("1001", "700"))
	imported := Record{ID: "20261125T074512123Z-1a2b3c4d", From: "1002", To: "700", Outcome: Abandoned, Via: "700"}
	b := e.add(t, imported)
	if _, err := e.s.Add(imported); !errors.Is(err, ErrExists) {
		t.Fatalf("adding the imported record again: %v, want ErrExists", err)
	}
	if _, err := e.s.Add(Record{From: "1001", Outcome: Answered}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("adding a record without To: %v, want ErrInvalid", err)
	}
	if got, want := ids(told), []string{a.ID, b.ID}; !slices.Equal(got, want) {
		t.Fatalf("told %v, want %v", got, want)
	}
	if told[0].Ended.IsZero() || told[1].Via != "700" {
		t.Errorf("told %+v, want the records as stored", told)
	}
}
