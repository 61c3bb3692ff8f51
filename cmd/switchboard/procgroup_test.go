package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/poll"
)

// TestKillGroupTakesTheChildren: stopping a server that forks workers (Kamailio in make
// bench-peer) must stop the workers too. Killing its main process alone left them running,
// bound to its port and holding its memory, beside the next server under test and after the
// bench (33 of them on the machine after three runs).
func TestKillGroupTakesTheChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cmd := exec.Command("sh", "-c", "sleep 60 & sleep 60 & wait")
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var children []int
	if !poll.Until(10*time.Second, func() bool { children = childPIDs(cmd.Process.Pid); return len(children) == 2 }) {
		t.Fatalf("the shell's children: %v, want 2", children)
	}
	if err := killGroup(cmd); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !poll.Until(10*time.Second, func() bool { return len(runningPIDs(children)) == 0 }) {
		t.Errorf("children %v still running after their group was killed", runningPIDs(children))
		for _, pid := range runningPIDs(children) {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
}

// runningPIDs returns those of pids whose process is still there and not a zombie (a killed
// orphan waits as one where nothing reaps it, as in a container).
func runningPIDs(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if f := procStatFields(pid); len(f) > 0 && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStatFields(n); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
