package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ErrDamaged is wrapped by the error that ends a capture file early: a
// record cut short or one whose length no pcap writer produces. Every
// packet before it was delivered; `edgestat report` exits with status 2.
var ErrDamaged = errors.New("damaged capture")

// maxRecordLen is the largest captured length accepted, libpcap's bound
// for nearly every link type (MAXIMUM_SNAPLEN).
const maxRecordLen = 262144

// pcapFileHeader is the 24-byte header of a classic pcap file.
type pcapFileHeader struct {
	bigEndian bool
	nano      bool
	major     uint16
	minor     uint16
	snaplen   uint32
	link      layers.LinkType
}

// parsePcapFileHeader reads the file header at the start of b.
func parsePcapFileHeader(b []byte) (pcapFileHeader, error) {
	var h pcapFileHeader
	if len(b) < 24 {
		return h, fmt.Errorf("pcap header: %d of 24 bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	switch binary.LittleEndian.Uint32(b) {
	case magicPcapMicro:
	case magicPcapNano:
		h.nano = true
	case magicPcapMicroBE:
		h.bigEndian = true
	case magicPcapNanoBE:
		h.bigEndian, h.nano = true, true
	default:
		return h, fmt.Errorf("pcap header: magic number %#08x", binary.LittleEndian.Uint32(b))
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h.bigEndian {
		order = binary.BigEndian
	}
	h.major, h.minor = order.Uint16(b[4:]), order.Uint16(b[6:])
	if h.major != 2 {
		return h, fmt.Errorf("pcap header: Unknown major version %d", h.major)
	}
	h.snaplen = order.Uint32(b[16:])
	// The top bits of the link type field may carry the FCS length.
	h.link = layers.LinkType(order.Uint32(b[20:]) & 0x0fffffff)
	return h, nil
}

// pcapRecord is a record header: its time, its captured length (the bytes
// that follow in the file) and the packet's original length on the wire.
type pcapRecord struct {
	sec, frac uint32
	capLen    uint32
	origLen   uint32
}

// parsePcapRecord reads the 16-byte record header at the start of b.
func parsePcapRecord(b []byte, bigEndian bool) pcapRecord {
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	_ = b[15]
	return pcapRecord{sec: order.Uint32(b), frac: order.Uint32(b[4:]), capLen: order.Uint32(b[8:]), origLen: order.Uint32(b[12:])}
}

// pcapReader reads the records of a classic pcap file. A packet's data is
// a slice of its buffer, valid until the next call: no copy besides the
// read itself.
type pcapReader struct {
	r       io.Reader
	hdr     pcapFileHeader
	buf     []byte
	start   int // unread bytes are buf[start:end]
	end     int
	eof     bool // r has nothing more
	readErr error
	records int

	// capOverLen counts records whose captured length exceeds the original
	// length; first is the first of them, for a warning.
	capOverLen, firstCapOverLen int
}

// pcapBuffer is the read buffer: a few hundred packets, few system calls.
const pcapBuffer = 1 << 20

// newPcapReader reads the file header from r.
func newPcapReader(r io.Reader) (*pcapReader, error) {
	pr := &pcapReader{r: r, buf: make([]byte, pcapBuffer)}
	b, err := pr.need(24)
	if err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	if pr.hdr, err = parsePcapFileHeader(b); err != nil {
		return nil, err
	}
	return pr, nil
}

func (pr *pcapReader) LinkType() layers.LinkType { return pr.hdr.link }

// need returns the next n bytes, reading as needed; at the end of the input
// it returns the bytes left with io.EOF (none) or io.ErrUnexpectedEOF.
func (pr *pcapReader) need(n int) ([]byte, error) {
	for pr.end-pr.start < n {
		if pr.eof {
			if pr.readErr != nil {
				return nil, pr.readErr
			}
			have := pr.end - pr.start
			if have == 0 {
				return nil, io.EOF
			}
			return pr.buf[pr.start:pr.end], io.ErrUnexpectedEOF
		}
		if pr.start > 0 {
			pr.end = copy(pr.buf, pr.buf[pr.start:pr.end])
			pr.start = 0
		}
		// n is at most maxRecordLen, well within the buffer.
		m, err := pr.r.Read(pr.buf[pr.end:])
		pr.end += m
		if err == io.EOF {
			pr.eof = true
		} else if err != nil {
			pr.eof, pr.readErr = true, err
		}
	}
	b := pr.buf[pr.start : pr.start+n]
	pr.start += n
	return b, nil
}

// ZeroCopyReadPacketData returns the next record's packet. A record whose captured
// length exceeds its original length is read whole (the next record starts
// after it) and delivered cut to the original length, as tcpdump and
// tshark count it. Errors: io.EOF at the end, ErrDamaged for a record cut
// short or of an impossible length.
func (pr *pcapReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	n := pr.records + 1
	h, err := pr.need(16)
	if err == io.EOF {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("packet %d: file cut short in the record header (%d of 16 bytes): %w: %w", n, len(h), ErrDamaged, err)
	}
	if err != nil {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("packet %d: %w", n, err)
	}
	rec := parsePcapRecord(h, pr.hdr.bigEndian)
	if rec.capLen > maxRecordLen {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("packet %d: capture length exceeds %d bytes (%d): %w", n, maxRecordLen, rec.capLen, ErrDamaged)
	}
	data, err := pr.need(int(rec.capLen))
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("packet %d: file cut short in the packet data (%d of %d bytes): %w: %w", n, len(data), rec.capLen, ErrDamaged, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("packet %d: %w", n, err)
	}
	pr.records = n
	if rec.capLen > rec.origLen {
		if pr.capOverLen == 0 {
			pr.firstCapOverLen = n
		}
		pr.capOverLen++
		data = data[:rec.origLen]
	}
	frac := int64(rec.frac)
	if !pr.hdr.nano {
		frac *= 1000
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(int64(rec.sec), frac).UTC(),
		CaptureLength: len(data),
		Length:        int(rec.origLen),
	}
	return data, ci, nil
}
