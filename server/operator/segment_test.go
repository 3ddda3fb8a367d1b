package operator

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func pcapNewSegmenter(t *testing.T, cfg SegmentConfig) *Segmenter {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "segments") // created by NewSegmenter
	}
	cfg.LinkType = layers.LinkTypeEthernet
	g, err := NewSegmenter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func pcapFeed(t *testing.T, g *Segmenter, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := g.Packet(pcapTestPacket(i)); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}

var pcapSegmentName = regexp.MustCompile(`^segment-\d{6}\.pcap$`)

// pcapCheckSegments reads every listed segment through Open and checks that
// their packets, one file after the other, are pcapTestPacket(0..total-1),
// that each file agrees with its SegmentInfo and that the directory holds
// nothing else (no .tmp file).
func pcapCheckSegments(t *testing.T, g *Segmenter, wantPackets ...int) {
	t.Helper()
	segs := g.Segments()
	if len(segs) != len(wantPackets) {
		t.Fatalf("%d segments %+v, want %d", len(segs), segs, len(wantPackets))
	}
	from := 0
	for i, si := range segs {
		if want := fmt.Sprintf("segment-%06d.pcap", i+1); si.Name != want {
			t.Errorf("segment %d named %q, want %q", i, si.Name, want)
		}
		f, err := g.Open(si.Name)
		if err != nil {
			t.Fatal(err)
		}
		n, err := pcapCheck(f, from, layers.LinkTypeEthernet)
		fi, serr := f.Stat()
		f.Close()
		if err != nil || serr != nil {
			t.Fatalf("%s: %v %v", si.Name, err, serr)
		}
		first, _ := pcapTestPacket(from)
		last, _ := pcapTestPacket(from + n - 1)
		if n != wantPackets[i] || si.Packets != n || si.Bytes != fi.Size() || !si.First.Equal(first.Timestamp) || !si.Last.Equal(last.Timestamp) {
			t.Errorf("%s: %d packets, %d bytes in the file; info %+v; want %d packets from %v to %v",
				si.Name, n, fi.Size(), si, wantPackets[i], first.Timestamp, last.Timestamp)
		}
		from += n
	}
	entries, err := os.ReadDir(g.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !pcapSegmentName.MatchString(e.Name()) {
			t.Errorf("stray file %s", e.Name())
		}
	}
	if len(entries) != len(segs) {
		t.Errorf("%d files for %d segments", len(entries), len(segs))
	}
}

func TestSegmentRotateByCount(t *testing.T) {
	g := pcapNewSegmenter(t, SegmentConfig{MaxPackets: 10_000, MaxAge: time.Hour})
	pcapFeed(t, g, 0, 25_000)
	if n := len(g.Segments()); n != 2 {
		t.Errorf("%d segments closed before Close, want 2", n)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	pcapCheckSegments(t, g, 10_000, 10_000, 5_000)
	fi, err := os.Stat(g.cfg.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v %v, want mode 0700", fi.Mode(), err)
	}
}

func TestSegmentRotateByAge(t *testing.T) {
	g := pcapNewSegmenter(t, SegmentConfig{MaxAge: 100 * time.Millisecond})
	pcapFeed(t, g, 0, 5)
	start := time.Now()
	// Packets stopped: the segmenter's goroutine closes the segment.
	pcapWaitUntil(t, "the idle segment closes", func() bool { return len(g.Segments()) == 1 })
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("segment closed %v after its last packet, MaxAge 100ms", took)
	}
	pcapFeed(t, g, 5, 10)
	time.Sleep(20 * time.Millisecond)
	if n := len(g.Segments()); n != 1 {
		t.Errorf("%d segments, want the second still open", n)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	pcapCheckSegments(t, g, 5, 5)
}

func TestSegmentAgeWhilePacketsCome(t *testing.T) {
	g := pcapNewSegmenter(t, SegmentConfig{MaxAge: 50 * time.Millisecond})
	deadline := time.Now().Add(300 * time.Millisecond)
	i := 0
	for ; time.Now().Before(deadline); i++ {
		pcapFeed(t, g, i, i+1)
		time.Sleep(time.Millisecond)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	segs := g.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments in 300ms at MaxAge 50ms", len(segs))
	}
	want := make([]int, len(segs))
	for j, si := range segs {
		want[j] = si.Packets
	}
	pcapCheckSegments(t, g, want...)
}

func TestSegmentOpen(t *testing.T) {
	g := pcapNewSegmenter(t, SegmentConfig{MaxPackets: 3})
	pcapFeed(t, g, 0, 4) // segment-000002.pcap is open, not listed
	f, err := g.Open("segment-000001.pcap")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(filepath.Dir(g.cfg.Dir), "x"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../x", "segment-000009.pcap", "segment-000002.pcap", "segment-000002.pcap.tmp",
		"", ".", "/etc/passwd", "segment-000001.pcap/../segment-000001.pcap", "./segment-000001.pcap"} {
		if f, err := g.Open(name); !errors.Is(err, os.ErrNotExist) {
			if f != nil {
				f.Close()
			}
			t.Errorf("Open(%q): %v, want an error wrapping os.ErrNotExist", name, err)
		}
	}
}

func TestSegmentMaxBytes(t *testing.T) {
	const rec = pcapRecordHeaderLen + 100
	limit := int64(pcapFileHeaderLen + 10*rec + 50)
	g := pcapNewSegmenter(t, SegmentConfig{MaxPackets: 4, MaxBytes: limit})
	data := make([]byte, 100)
	ci := gopacket.CaptureInfo{Timestamp: pcapTestBase, CaptureLength: 100, Length: 100}
	// Three headers: 4 + 4 + 2 packets fit.
	for i := range 10 {
		if err := g.Packet(ci, data); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	for range 2 {
		if err := g.Packet(ci, data); !errors.Is(err, ErrSegmentsFull) {
			t.Fatalf("past MaxBytes: %v, want ErrSegmentsFull", err)
		}
	}
	if err := g.Packet(ci, data[:1]); !errors.Is(err, ErrSegmentsFull) {
		t.Fatalf("a small packet after full: %v, want ErrSegmentsFull", err)
	}
	// Nothing more comes, so the last segment is listed at once.
	segs := g.Segments()
	var total int64
	var packets []int
	for _, si := range segs {
		total += si.Bytes
		packets = append(packets, si.Packets)
	}
	if fmt.Sprint(packets) != "[4 4 2]" || total > limit {
		t.Errorf("segments of %v packets, %d bytes (max %d)", packets, total, limit)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(g.Segments()); n != 3 {
		t.Errorf("%d segments after Close, want 3", n)
	}
}

func TestSegmentSnapLen(t *testing.T) {
	g := pcapNewSegmenter(t, SegmentConfig{SnapLen: 64})
	data := bytes.Repeat([]byte{7}, 100)
	if err := g.Packet(gopacket.CaptureInfo{Timestamp: pcapTestBase, CaptureLength: 100, Length: 100}, data); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := g.Open("segment-000001.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got, ci, err := r.ReadPacketData()
	if err != nil || r.Snaplen() != 64 || len(got) != 64 || ci.Length != 100 {
		t.Errorf("snaplen %d, packet %d/%d bytes, %v; want 64, 64/100", r.Snaplen(), len(got), ci.Length, err)
	}
}

func TestSegmentClose(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := filepath.Join(t.TempDir(), "a", "b")
	g, err := NewSegmenter(SegmentConfig{Dir: dir, LinkType: layers.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 || len(g.Segments()) != 0 {
		t.Errorf("an empty segmenter left %d files, %d segments", len(entries), len(g.Segments()))
	}
	if err := g.Packet(pcapTestPacket(0)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Packet after Close: %v, want os.ErrClosed", err)
	}
	pcapGoroutinesBack(t, before)

	g, err = NewSegmenter(SegmentConfig{Dir: filepath.Join(t.TempDir(), "c"), LinkType: layers.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	pcapFeed(t, g, 0, 100)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	pcapCheckSegments(t, g, 100)
	pcapGoroutinesBack(t, before)
}

func TestSegmentDirInUse(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "segment-000001.pcap.tmp"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if g, err := NewSegmenter(SegmentConfig{Dir: dir}); !errors.Is(err, os.ErrExist) {
		if g != nil {
			g.Close()
		}
		t.Fatalf("NewSegmenter on a directory with segments: %v, want os.ErrExist", err)
	}
	if _, err := NewSegmenter(SegmentConfig{}); err == nil {
		t.Fatal("NewSegmenter without a directory: no error")
	}
}

func TestSegmentTcpdump(t *testing.T) {
	tcpdump := pcapNeedTool(t, "tcpdump", "tcpdump")
	g := pcapNewSegmenter(t, SegmentConfig{MaxPackets: 20})
	for i := range 30 {
		data := pcapUDPFrame(t, i)
		ci := gopacket.CaptureInfo{Timestamp: pcapTestBase.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := g.Packet(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{20, 10} {
		file := filepath.Join(g.cfg.Dir, fmt.Sprintf("segment-%06d.pcap", i+1))
		out, err := exec.Command(tcpdump, "-n", "-r", file).Output()
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v", file, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != want || !strings.Contains(lines[0], " > 10.0.0.2.61000: UDP") {
			t.Errorf("tcpdump -r %s printed %d lines, want %d:\n%s", file, len(lines), want, out)
		}
	}
}

func TestSegmentIOErrorSticks(t *testing.T) {
	g := pcapNewSegmenter(t, SegmentConfig{MaxPackets: 3})
	pcapFeed(t, g, 0, 2)
	// The directory goes away under the open segment: its rename fails.
	if err := os.RemoveAll(g.cfg.Dir); err != nil {
		t.Fatal(err)
	}
	err := g.Packet(pcapTestPacket(2))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("closing a segment in a removed directory: %v, want an error wrapping os.ErrNotExist", err)
	}
	if err2 := g.Packet(pcapTestPacket(3)); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("next Packet: %v, want the first error again", err2)
	}
	if err2 := g.Close(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Close: %v, want the first error again", err2)
	}
	if n := len(g.Segments()); n != 0 {
		t.Errorf("%d segments listed, want none", n)
	}
}
