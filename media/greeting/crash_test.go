package greeting

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-voip/switchboard/internal/crashtest"
	"github.com/switchboard-voip/switchboard/media"
)

// crashDirEnv makes the test binary a child that uploads greetings into the named folder for
// ever, alternating two lengths, until it is killed.
const crashDirEnv = "SWITCHBOARD_GREETING_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild alternates 1 s and 2 s greetings and says "ok" once the first is stored.
func crashChild(dir string) {
	s, err := Open(dir, func(string, string) string { return "" })
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	wavs := [][]byte{pcmWAV(8000, 1, 1), pcmWAV(8000, 1, 2)}
	for i := 0; ; i++ {
		if err := s.Put("1001", DND, wavs[i%2]); err != nil {
			fmt.Println("put:", err)
			os.Exit(1)
		}
		if i == 0 {
			fmt.Println("ok")
		}
	}
}

// TestGreetingUploadSurvivesSIGKILL kills a process in the middle of uploading greetings over
// and over, five times: on reopening, the greeting is always a whole one of the two lengths,
// never a torn file, and no temporary file is left.
func TestGreetingUploadSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := filepath.Join(t.TempDir(), "greetings")
	for round := range 5 {
		child := crashtest.Start(t, crashDirEnv+"="+dir)
		if line := child.Line(); strings.TrimSpace(line) != "ok" {
			t.Fatalf("round %d: child said %q", round, line)
		}
		// It is writing now, one upload after another: kill it wherever it is.
		child.Kill()

		s, err := Open(dir, func(string, string) string { return "" })
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		got := s.Greeting("1001", DND)
		if n := len(got); n != media.SampleRate && n != 2*media.SampleRate {
			t.Fatalf("round %d: the greeting has %d samples, want a whole 1 s or 2 s one", round, n)
		}
		tmps, _ := filepath.Glob(filepath.Join(dir, "1001", ".*.tmp"))
		if len(tmps) != 0 {
			t.Fatalf("round %d: temporary files left after reopening: %v", round, tmps)
		}
	}
}
