package main

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
)

// relayInKernel hands the pool's plain RTP to the kernel as media.kernel_relay says: "auto" where
// the kernel can, "on" or the switch does not start, "off" never.
func relayInKernel(ports *media.Ports, mode string, log *zap.Logger) error {
	if mode == "off" {
		return nil
	}
	err := ports.RelayInKernel()
	switch {
	case err == nil:
		log.Info("plain RTP relayed by the kernel once both phones have sent")
	case mode == "on":
		return fmt.Errorf("media.kernel_relay: %w", err)
	default:
		log.Info("RTP relayed by the switch: the kernel cannot relay it here (media.kernel_relay)", zap.Error(err))
	}
	return nil
}
