package capture

import (
	"errors"
	"fmt"
)

// A Mode is the way a live capture reads packets from the kernel.
type Mode int

const (
	// ModeAuto uses the ring, and the socket where the ring cannot be set up.
	ModeAuto Mode = iota
	// ModeRing reads from a TPACKET ring shared with the kernel (gopacket's
	// afpacket, TPACKET_V3 and else TPACKET_V2): no system call while
	// packets are waiting, and no copy.
	ModeRing
	// ModeSocket reads with one recvmsg system call per packet
	// (gopacket's pcapgo.EthernetHandle).
	ModeSocket
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeRing:
		return "ring"
	case ModeSocket:
		return "socket"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "auto", "ring" or "socket".
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeAuto, ModeRing, ModeSocket} {
		if s == m.String() {
			return m, nil
		}
	}
	return ModeAuto, fmt.Errorf("capture: unknown capture mode %q (auto, ring or socket)", s)
}

// LiveOptions tune a live capture.
type LiveOptions struct {
	// Snaplen is the most bytes of a packet that are kept (0: 262144, the
	// whole packet). CaptureInfo.Length is always the length on the wire.
	Snaplen int
	// Promiscuous also captures frames addressed to other hosts (the
	// membership is dropped by the kernel when the capture closes).
	Promiscuous bool
	// Filter is a capture filter: an expression of the subset the package
	// documentation describes, or the output of `tcpdump -dd EXPR`.
	Filter string
	// Mode chooses the ring, the socket, or the ring with the socket as
	// the fallback (the default).
	Mode Mode
	// RingSize is the ring's size in bytes (0: 8 MiB). Larger rides out
	// longer bursts while the reader is busy; it is locked kernel memory.
	RingSize int
	// TPacketVersion forces TPACKET_V2 or TPACKET_V3 for the ring
	// (0: V3, else V2).
	TPacketVersion int
}

// defaultRingSize is the ring's size when LiveOptions.RingSize is 0.
const defaultRingSize = 8 << 20

// ErrNoLive is returned by OpenLive where live capture does not exist.
var ErrNoLive = errors.New("live capture needs Linux (AF_PACKET)")
