//go:build !linux

package main

import "errors"

type sipCapture struct{}

func startSIPCapture([]int) (*sipCapture, error) {
	return nil, errors.New("capturing the loopback's datagrams needs Linux")
}

func (*sipCapture) take() []capturedDatagram { return nil }
func (*sipCapture) close()                   {}
