package history

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/crashtest"
)

// crashDBEnv makes the test binary a child that adds call records to the named bbolt file for
// ever, printing each record's id once Add has returned, until it is killed.
const crashDBEnv = "SWITCHBOARD_HISTORY_CRASH_DB"

// crashMax is the child's record limit: the kill also lands in the middle of pruning.
const crashMax = 100

func TestMain(m *testing.M) {
	if path := os.Getenv(crashDBEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func crashChild(path string) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	s, err := Open(db, WithMaxRecords(crashMax))
	if err != nil {
		fmt.Println("open store:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	start := time.Now().Add(-time.Minute)
	for i := 0; ; i++ {
		r, err := s.Add(Record{Started: start, From: "1001", To: "1002", Outcome: Answered, AnsweredBy: "1002",
			TalkMS: int64(i), Trace: []string{fmt.Sprintf("call %d", i)}})
		if err != nil {
			fmt.Fprintln(w, "add:", err)
			w.Flush()
			os.Exit(1)
		}
		fmt.Fprintln(w, r.ID)
		w.Flush() // the id is out only once Add returned: the record is on disk
	}
}

// TestHistorySurvivesSIGKILL kills a process that adds call records as fast as it can (and
// prunes past its limit), three times: on reopening, every record whose Add had returned before
// the kill and is among the newest crashMax-1 (one more may have been committed unsaid) is there
// and reads back whole, nothing beyond the limit is kept, and the store takes new records.
func TestHistorySurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "switchboard.db")
	var acked []string
	for round := range 3 {
		child := crashtest.Start(t, crashDBEnv+"="+path)
		for range 3 * crashMax / 2 {
			id := child.Line()
			if !ValidID(id) {
				t.Fatalf("round %d: child said %q", round, id)
			}
			acked = append(acked, id)
		}
		// It is adding (and pruning) now, one record after another: kill it wherever it is. What
		// it said meanwhile was added too, and counts among the newest.
		for _, id := range child.KillAndRead() {
			if ValidID(id) {
				acked = append(acked, id)
			}
		}

		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		s, err := Open(db, WithMaxRecords(crashMax))
		if err != nil {
			db.Close()
			t.Fatalf("round %d: open store: %v", round, err)
		}
		list, err := s.List("1002", 10*crashMax, "")
		if err != nil {
			db.Close()
			t.Fatalf("round %d: list: %v", round, err)
		}
		have := make(map[string]bool, len(list))
		for _, rec := range list {
			have[rec.ID] = true
			if rec.Outcome != Answered || len(rec.Trace) != 1 || !strings.HasPrefix(rec.Trace[0], "call ") {
				t.Errorf("round %d: record %s read back as %+v", round, rec.ID, rec)
			}
		}
		if len(list) > crashMax {
			t.Errorf("round %d: %d records kept, the limit is %d", round, len(list), crashMax)
		}
		// The newest crashMax-1: the record being added at the kill may have been committed
		// without the child saying so, and pushed the oldest of them out.
		for _, id := range acked[len(acked)-(crashMax-1):] {
			if !have[id] {
				t.Errorf("round %d: record %s was added before the kill and is gone", round, id)
			}
		}
		if _, err := s.Add(Record{From: "1001", To: "1002", Outcome: Missed}); err != nil {
			t.Errorf("round %d: add after reopening: %v", round, err)
		}
		db.Close()
		t.Logf("round %d: %d records acknowledged in all, %d kept", round, len(acked), len(list))
	}
}
