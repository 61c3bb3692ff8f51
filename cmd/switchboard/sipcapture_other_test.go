//go:build !linux

package main

import (
	"errors"
	"time"
)

type sipCapture struct{}

type capturedDatagram struct {
	at       time.Time
	src, dst int
	payload  []byte
}

func startSIPCapture([]int) (*sipCapture, error) {
	return nil, errors.New("capturing the loopback's datagrams needs Linux")
}

func (*sipCapture) take() []capturedDatagram { return nil }
func (*sipCapture) close()                   {}
