// Package probe is the packet probe: it turns packets from a capture, a
// pcap file or the emulator into MMT protocol statistics and flow reports.
package probe

import (
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// An Input delivers packets to the pipeline: a live capture, a pcap or
// pcapng file, or the emulator. Implementations live in probe/capture and
// probe/emulator; the pipeline depends only on this interface.
type Input interface {
	// ReadPacket returns the next packet. The data may point into a buffer
	// the Input reuses: it is valid only until the next call. At the end of
	// a finite input (a file, an emulator with a count) it returns io.EOF.
	ReadPacket() (data []byte, ci gopacket.CaptureInfo, err error)
	// LinkType is the link layer of every packet.
	LinkType() layers.LinkType
	// Name is the report's source column: the interface or the file name.
	Name() string
	// Close releases the input; a blocked ReadPacket returns.
	Close() error
}

// A DropCounter is implemented by live captures that know how many packets
// the kernel dropped.
type DropCounter interface {
	// Drops is the number of packets dropped by the kernel since the start.
	Drops() (uint64, error)
}
