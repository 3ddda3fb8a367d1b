package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"edgestat/probe"
)

// ErrFormat is wrapped by the error for input that is not a pcap or pcapng
// capture (possibly gzip-compressed).
var ErrFormat = errors.New("not a pcap or pcapng capture")

// FileOptions tune the reading of a capture file.
type FileOptions struct {
	// Speed paces the packets by their timestamps: 1 replays at the
	// recorded speed, 2 twice as fast, 0.5 at half speed. 0 (the default)
	// reads as fast as possible.
	Speed float64
}

// readBuffer is the read-ahead for capture files.
const readBuffer = 256 << 10

// Magic numbers of the formats, as the first four bytes read little-endian.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapNG      = 0x0a0d0d0a // the section header block type, a palindrome
)

// Open opens a pcap or pcapng capture file, compressed with gzip or not
// (told by the magic numbers, not the name). Its Name is the file's base
// name; its LinkType is the one the file declares, supported by the
// pipeline or not. At the end of the file ReadPacket returns io.EOF;
// a file cut short or damaged gives an error that names the file and the
// packet.
func Open(path string, opts FileOptions) (probe.Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	in, err := NewReader(f, filepath.Base(path), opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return in, nil
}

// NewReader reads a pcap or pcapng capture (possibly gzip-compressed) from
// r, as Open does for a file. name is the Input's Name. Close closes r if
// it is an io.Closer.
func NewReader(r io.Reader, name string, opts FileOptions) (probe.Input, error) {
	if opts.Speed < 0 {
		return nil, fmt.Errorf("capture: %s: negative replay speed %v", name, opts.Speed)
	}
	in := &fileInput{name: name, speed: opts.Speed, closed: make(chan struct{})}
	if c, ok := r.(io.Closer); ok {
		in.closer = c
	}
	br := bufio.NewReaderSize(r, readBuffer)
	magic, err := br.Peek(4)
	if err == io.EOF {
		return nil, fmt.Errorf("capture: %s: %w: %d bytes", name, ErrFormat, len(magic))
	} else if err != nil {
		return nil, fmt.Errorf("capture: %s: %w", name, err)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture: %s: gzip: %w", name, err)
		}
		in.compressed = true
		br = bufio.NewReaderSize(gz, readBuffer)
		if magic, err = br.Peek(4); err == io.EOF {
			return nil, fmt.Errorf("capture: %s: %w: gzip stream of %d bytes", name, ErrFormat, len(magic))
		} else if err != nil {
			return nil, fmt.Errorf("capture: %s: gzip: %w", name, err)
		}
	}
	switch m := binary.LittleEndian.Uint32(magic); m {
	case magicPcapMicro, magicPcapNano, magicPcapMicroBE, magicPcapNanoBE:
		r, err := newPcapReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture: %s: %w", name, noEOF(err))
		}
		in.src, in.link, in.format, in.pcap = r, r.LinkType(), "pcap", r
	case magicPcapNG:
		r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{ErrorOnMismatchingLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("capture: %s: pcapng header: %w", name, noEOF(err))
		}
		in.src, in.link, in.format = r, r.LinkType(), "pcapng"
	default:
		return nil, fmt.Errorf("capture: %s: %w (magic number %#08x)", name, ErrFormat, m)
	}
	return in, nil
}

// noEOF turns an io.EOF inside a header into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fileInput is a capture file.
type fileInput struct {
	name       string
	format     string
	compressed bool
	link       layers.LinkType
	src        gopacket.ZeroCopyPacketDataSource
	pcap       *pcapReader // src, for a classic pcap file
	closer     io.Closer
	speed      float64

	packets int   // packets returned
	err     error // sticky error, io.EOF at the end

	// Pacing at the recorded speed: packet time first maps to wall time start.
	first, start time.Time
	timer        *time.Timer

	closeOnce sync.Once
	closed    chan struct{}
}

var _ probe.Input = (*fileInput)(nil)

// A Warner is an Input that noticed oddities it read through (Open's
// inputs are).
type Warner interface {
	Warnings() []string
}

func (in *fileInput) LinkType() layers.LinkType { return in.link }
func (in *fileInput) Name() string              { return in.name }

// Format is "pcap" or "pcapng", with " (gzip)" for a compressed file.
func (in *fileInput) Format() string {
	if in.compressed {
		return in.format + " (gzip)"
	}
	return in.format
}

// ReadPacket returns the next packet; its data is valid until the next call.
func (in *fileInput) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	if in.err != nil {
		return nil, gopacket.CaptureInfo{}, in.err
	}
	select {
	case <-in.closed:
		in.err = io.EOF
		return nil, gopacket.CaptureInfo{}, io.EOF
	default:
	}
	data, ci, err := in.src.ZeroCopyReadPacketData()
	if err != nil {
		in.err = in.wrap(err)
		return nil, gopacket.CaptureInfo{}, in.err
	}
	in.packets++
	if in.speed > 0 && !in.pace(ci.Timestamp) {
		in.err = io.EOF
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	return data, ci, nil
}

// wrap names the file in a read error. Any error but the end of the file
// (or a Close under the reader) is damage: the packets before it were
// delivered, the ones after it cannot be reached.
func (in *fileInput) wrap(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case errors.Is(err, ErrDamaged):
		return fmt.Errorf("capture: %s: %w", in.name, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("capture: %s: packet %d: file cut short: %w: %w", in.name, in.packets+1, ErrDamaged, err)
	case errors.Is(err, pcapgo.ErrNgLinkTypeMismatch):
		return fmt.Errorf("capture: %s: packet %d: an interface's link type differs from the first interface's (%v), which libpcap refuses too: %w: %w", in.name, in.packets+1, in.link, ErrDamaged, err)
	}
	select {
	case <-in.closed:
		return io.EOF // the reader was closed under us
	default:
	}
	return fmt.Errorf("capture: %s: packet %d: %w: %w", in.name, in.packets+1, ErrDamaged, err)
}

// Warnings are what was odd in the file read so far though every packet
// could be delivered: records whose captured length exceeds the original
// length, read with the original length.
func (in *fileInput) Warnings() []string {
	if in.pcap == nil || in.pcap.capOverLen == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: %d record(s) with a captured length greater than the original length, the first is packet %d: read with the original length, as tcpdump and tshark count them",
		in.name, in.pcap.capOverLen, in.pcap.firstCapOverLen)}
}

// pace sleeps until the packet's time at the replay speed; false when
// Close interrupted the wait.
func (in *fileInput) pace(ts time.Time) bool {
	now := time.Now()
	if in.start.IsZero() {
		in.first, in.start = ts, now
		return true
	}
	due := in.start.Add(time.Duration(float64(ts.Sub(in.first)) / in.speed))
	wait := due.Sub(now)
	if wait <= 0 {
		return true
	}
	if in.timer == nil {
		in.timer = time.NewTimer(wait)
	} else {
		in.timer.Reset(wait)
	}
	select {
	case <-in.timer.C:
		return true
	case <-in.closed:
		in.timer.Stop()
		return false
	}
}

// Close ends the input: a ReadPacket waiting to pace a packet returns
// io.EOF, and so do later ones.
func (in *fileInput) Close() error {
	var err error
	in.closeOnce.Do(func() {
		close(in.closed)
		if in.closer != nil {
			err = in.closer.Close()
		}
	})
	return err
}
