//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd, once started, the leader of a process group of its own, so that
// killGroup reaches the processes it forks (Kamailio's workers).
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills the process group of cmd, started with ownGroup: cmd's process and every
// process it forked that is still in its group.
func killGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
