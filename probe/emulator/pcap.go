package emulator

import (
	"bufio"
	"errors"
	"io"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Snaplen is the snapshot length written in pcap headers.
const Snaplen = 65535

// WritePcap writes opts.Count packets of a new Emulator as a pcap file
// (microsecond timestamps, link type Ethernet, snaplen 65535) to w.
// opts.Count must be positive. A paced emulator writes in real time.
func WritePcap(w io.Writer, opts Options) error {
	if opts.Count <= 0 {
		return errors.New("emulator: WritePcap needs a positive Count")
	}
	e := New(opts)
	defer e.Close()
	return WritePackets(w, e)
}

// WritePackets writes every packet of e, until io.EOF, as a pcap file to w.
func WritePackets(w io.Writer, e *Emulator) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for {
		data, ci, err := e.ReadPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := pw.WritePacket(ci, data); err != nil {
			return err
		}
	}
	return bw.Flush()
}
