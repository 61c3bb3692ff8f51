//go:build !unix

package main

import "os/exec"

// ownGroup does nothing where there are no process groups.
func ownGroup(*exec.Cmd) {}

// killGroup kills cmd's process only where there are no process groups.
func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
