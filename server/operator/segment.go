package operator

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const (
	segmentDefaultPackets = 10000
	segmentDefaultAge     = 10 * time.Second
	segmentWriteBuf       = 64 << 10
	segmentPrefix         = "segment-"
	segmentTmpSuffix      = ".tmp"
)

// ErrSegmentsFull is returned by Segmenter.Packet once the segments together
// would pass SegmentConfig.MaxBytes; nothing more is written after it.
var ErrSegmentsFull = errors.New("operator: segments reached their byte limit")

// SegmentConfig configures a Segmenter. Zero fields take the defaults.
type SegmentConfig struct {
	Dir        string // created if missing (0700)
	LinkType   layers.LinkType
	SnapLen    uint32        // default 262144
	MaxPackets int           // a segment closes at this many packets; default 10000
	MaxAge     time.Duration // ...or when its first packet was written this long ago (wall clock); default 10s
	MaxBytes   int64         // all segments together; 0 = no bound; past it Packet returns ErrSegmentsFull and writes nothing more
	Log        *slog.Logger
}

// SegmentInfo describes a closed segment. First and Last are the timestamps
// of its first and last packets, to the microsecond as the file holds them.
type SegmentInfo struct {
	Name    string    `json:"name"`
	Packets int       `json:"packets"`
	Bytes   int64     `json:"bytes"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// A Segmenter cuts packets into pcap files segment-000001.pcap,
// segment-000002.pcap, ... in its directory. Each is a complete pcap file
// with its own header, and the segments' packets, one file after the other,
// are the packets given, in order.
//
// Writing is power-safe: a segment is written to NAME.tmp and, when it
// closes, flushed, fsynced, closed, renamed to NAME and the directory
// fsynced. So a listed segment is always complete, and a crash or a power
// cut leaves at most one .tmp file, which the session layer deletes when it
// finds it (with the rest of a dead session's directory).
//
// The Segmenter stops at its first I/O error: that Packet and every later
// one return it, and the unfinished segment's .tmp file is removed.
type Segmenter struct {
	cfg SegmentConfig
	log *slog.Logger

	mu     sync.Mutex
	cur    *segmentFile // the open segment, nil until a packet comes
	seq    int          // number of the last segment opened
	closed []SegmentInfo
	bytes  int64 // all segments written, the open one included
	full   bool
	err    error // the first I/O error; sticky
	shut   bool  // Close was called

	kick chan struct{} // cap 1: a segment opened, the age goroutine re-arms
	quit chan struct{}
	done chan struct{} // closed when the age goroutine returns
}

type segmentFile struct {
	info   SegmentInfo
	tmp    string
	path   string
	f      *os.File
	bw     *bufio.Writer
	pw     *pcapgo.Writer
	opened time.Time // wall clock of the first write, for MaxAge
}

// NewSegmenter creates the directory if missing and starts one goroutine,
// owned by the Segmenter until Close, that closes a segment reaching MaxAge
// while packets stopped coming. The directory must hold no segment files
// yet, so that no segment is overwritten.
func NewSegmenter(cfg SegmentConfig) (*Segmenter, error) {
	if cfg.Dir == "" {
		return nil, errors.New("operator: segmenter: no directory")
	}
	if cfg.SnapLen == 0 {
		cfg.SnapLen = pcapDefaultSnapLen
	}
	if cfg.MaxPackets <= 0 {
		cfg.MaxPackets = segmentDefaultPackets
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = segmentDefaultAge
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("operator: segmenter: %w", err)
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("operator: segmenter: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), segmentPrefix) {
			return nil, fmt.Errorf("operator: segmenter: %s already holds %s: %w", cfg.Dir, e.Name(), os.ErrExist)
		}
	}
	g := &Segmenter{
		cfg:  cfg,
		log:  log.With("segments", cfg.Dir),
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go g.ageLoop()
	return g, nil
}

// Packet writes one packet to the open segment, opening one if needed. The
// record is clipped as Stream.Packet clips it. A segment closes when it
// holds MaxPackets packets; a packet that comes MaxAge after the open
// segment's first one goes into a new segment.
func (g *Segmenter) Packet(ci gopacket.CaptureInfo, data []byte) error {
	ci, data = pcapClip(ci, data, g.cfg.SnapLen)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.shut:
		return fmt.Errorf("operator: segmenter: %w", os.ErrClosed)
	case g.err != nil:
		return g.err
	case g.full:
		return ErrSegmentsFull
	}
	if g.cur != nil && time.Since(g.cur.opened) >= g.cfg.MaxAge {
		if err := g.closeCurrent(); err != nil {
			return err
		}
	}
	need := int64(pcapRecordHeaderLen + len(data))
	if g.cur == nil {
		need += pcapFileHeaderLen
	}
	if g.cfg.MaxBytes > 0 && g.bytes+need > g.cfg.MaxBytes {
		g.full = true
		g.log.Warn("segments full", "bytes", g.bytes, "max", g.cfg.MaxBytes)
		// Nothing more comes: list what was written now.
		if err := g.closeCurrent(); err != nil {
			return err
		}
		return ErrSegmentsFull
	}
	if g.cur == nil {
		if err := g.openNext(); err != nil {
			return err
		}
	}
	s := g.cur
	if err := s.pw.WritePacket(ci, data); err != nil {
		return g.fail(fmt.Errorf("operator: segment %s: %w", s.info.Name, err))
	}
	ts := ci.Timestamp.Truncate(time.Microsecond)
	if s.info.Packets == 0 {
		s.info.First = ts
	}
	s.info.Last = ts
	s.info.Packets++
	s.info.Bytes += need
	g.bytes += need
	if s.info.Packets >= g.cfg.MaxPackets {
		return g.closeCurrent()
	}
	return nil
}

// openNext creates the next segment's .tmp file and writes its header.
func (g *Segmenter) openNext() error {
	g.seq++
	name := fmt.Sprintf("%s%06d.pcap", segmentPrefix, g.seq)
	path := filepath.Join(g.cfg.Dir, name)
	tmp := path + segmentTmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		g.err = fmt.Errorf("operator: segment: %w", err)
		return g.err
	}
	bw := bufio.NewWriterSize(f, segmentWriteBuf)
	s := &segmentFile{
		info: SegmentInfo{Name: name}, // Packet counts the header in its first record
		tmp:  tmp, path: path, f: f, bw: bw, pw: pcapgo.NewWriter(bw),
		opened: time.Now(),
	}
	g.cur = s
	if err := s.pw.WriteFileHeader(g.cfg.SnapLen, g.cfg.LinkType); err != nil {
		return g.fail(fmt.Errorf("operator: segment %s: %w", name, err))
	}
	select {
	case g.kick <- struct{}{}:
	default:
	}
	return nil
}

// closeCurrent makes the open segment durable and lists it: flush, fsync,
// close, rename, fsync the directory.
func (g *Segmenter) closeCurrent() error {
	s := g.cur
	if s == nil {
		return nil
	}
	if err := s.bw.Flush(); err != nil {
		return g.fail(fmt.Errorf("operator: segment %s: %w", s.info.Name, err))
	}
	if err := s.f.Sync(); err != nil {
		return g.fail(fmt.Errorf("operator: segment %s: %w", s.info.Name, err))
	}
	if err := s.f.Close(); err != nil {
		s.f = nil
		return g.fail(fmt.Errorf("operator: segment %s: %w", s.info.Name, err))
	}
	s.f = nil
	if err := os.Rename(s.tmp, s.path); err != nil {
		return g.fail(fmt.Errorf("operator: segment %s: %w", s.info.Name, err))
	}
	g.cur = nil
	g.closed = append(g.closed, s.info)
	if err := segmentSyncDir(g.cfg.Dir); err != nil {
		// The file is complete and renamed; only its name may not survive
		// a power cut. Stop here all the same: the disk is failing.
		g.err = fmt.Errorf("operator: segment %s: %w", s.info.Name, err)
		return g.err
	}
	g.log.Debug("segment closed", "name", s.info.Name, "packets", s.info.Packets, "bytes", s.info.Bytes)
	return nil
}

// fail gives up the open segment, removing its .tmp file, and makes err
// sticky.
func (g *Segmenter) fail(err error) error {
	if s := g.cur; s != nil {
		if s.f != nil {
			_ = s.f.Close()
		}
		_ = os.Remove(s.tmp)
		g.cur = nil
	}
	g.err = err
	g.log.Warn("segmentation failed", "err", err)
	return err
}

func segmentSyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ageLoop closes the open segment when it reaches MaxAge, so a segment is
// listed even when packets stop coming.
func (g *Segmenter) ageLoop() {
	defer close(g.done)
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-g.quit:
			return
		case <-g.kick:
		case <-t.C:
		}
		g.mu.Lock()
		if g.cur != nil {
			if left := g.cfg.MaxAge - time.Since(g.cur.opened); left > 0 {
				t.Reset(left)
			} else {
				_ = g.closeCurrent() // an error is kept for the next Packet
			}
		}
		g.mu.Unlock()
	}
}

// Close closes the open segment, if any (an empty segment is never
// created, so it leaves no file), and stops the age goroutine. It returns
// the error of closing that segment, or the I/O error that stopped the
// Segmenter earlier; later calls return nil.
func (g *Segmenter) Close() error {
	g.mu.Lock()
	if g.shut {
		g.mu.Unlock()
		<-g.done
		return nil
	}
	g.shut = true
	err := g.closeCurrent()
	if err == nil {
		err = g.err // an earlier failure, so the session records it
	}
	g.mu.Unlock()
	close(g.quit)
	<-g.done
	return err
}

// Segments lists the closed segments, in order.
func (g *Segmenter) Segments() []SegmentInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.closed)
}

// Open opens a segment for reading. Only a name Segments lists is opened,
// so no path can reach outside the directory; any other name gives an error
// wrapping os.ErrNotExist.
func (g *Segmenter) Open(name string) (*os.File, error) {
	g.mu.Lock()
	listed := slices.ContainsFunc(g.closed, func(s SegmentInfo) bool { return s.Name == name })
	g.mu.Unlock()
	if !listed {
		return nil, fmt.Errorf("operator: segment %q: %w", name, os.ErrNotExist)
	}
	f, err := os.Open(filepath.Join(g.cfg.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("operator: segment: %w", err)
	}
	return f, nil
}
