//go:build !linux

package capture

import (
	"fmt"

	"edgestat/probe"
)

// OpenLive fails: live capture uses Linux's AF_PACKET sockets.
func OpenLive(iface string, opts LiveOptions) (probe.Input, error) {
	return nil, fmt.Errorf("capture: %s: %w", iface, ErrNoLive)
}
