// Package crashtest runs a test binary again as a child process that writes until it is killed
// with SIGKILL, for tests of what a crash in the middle of a write leaves on disk. The test
// binary's TestMain turns into the child when it finds its environment variable set.
package crashtest

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// Child is the running child process.
type Child struct {
	t      testing.TB
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	killed bool
}

// Start runs this test binary, running no test, with env ("NAME=value") added to its
// environment; the child's stderr is the test's. A test's cleanup kills it if the test has not.
func Start(t testing.TB, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{t: t, cmd: cmd, lines: bufio.NewScanner(out)}
	t.Cleanup(c.Kill)
	return c
}

// Line is the child's next line of output; it fails the test when the child ends first.
func (c *Child) Line() string {
	c.t.Helper()
	if !c.lines.Scan() {
		c.t.Fatalf("the child ended without saying more: %v", c.lines.Err())
	}
	return c.lines.Text()
}

// KillAndRead sends SIGKILL, wherever the child is, and returns what it had written that the
// test had not read yet (a child writes on while the test reads), once it is gone.
func (c *Child) KillAndRead() []string {
	c.t.Helper()
	if c.killed {
		return nil
	}
	c.killed = true
	_ = c.cmd.Process.Kill()
	var rest []string
	for c.lines.Scan() { // to the end of the pipe, which the child's death closes
		rest = append(rest, c.lines.Text())
	}
	_ = c.cmd.Wait()
	return rest
}

// Kill sends SIGKILL, wherever the child is, and waits for it to be gone.
func (c *Child) Kill() {
	if c.killed {
		return
	}
	c.killed = true
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}
