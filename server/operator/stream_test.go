package operator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The helpers of this file and segment_test.go carry a pcap prefix so that
// they do not collide with other test files of the package.

var pcapTestBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// pcapTestPacket is packet i of a deterministic sequence: sizes from 0 to
// 599 bytes, original lengths at or above them, microsecond timestamps.
func pcapTestPacket(i int) (gopacket.CaptureInfo, []byte) {
	n := (i * 7919) % 600
	data := make([]byte, n)
	for j := range data {
		data[j] = byte(i*131 + j*31)
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     pcapTestBase.Add(time.Duration(i) * 1337 * time.Microsecond),
		CaptureLength: n,
		Length:        n + i%3*10,
	}
	return ci, data
}

// pcapCheck reads a pcap stream to its end and compares every packet with
// pcapTestPacket(from), pcapTestPacket(from+1), ... It returns how many
// matched and the first error other than EOF.
func pcapCheck(r io.Reader, from int, linkType layers.LinkType) (int, error) {
	pr, err := pcapgo.NewReader(bufio.NewReader(r))
	if err != nil {
		return 0, fmt.Errorf("pcap header: %w", err)
	}
	if pr.LinkType() != linkType || pr.Snaplen() != pcapDefaultSnapLen || pr.Resolution() != gopacket.TimestampResolutionMicrosecond {
		return 0, fmt.Errorf("pcap header: link type %v, snaplen %d, resolution %v", pr.LinkType(), pr.Snaplen(), pr.Resolution())
	}
	n := 0
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("packet %d: %w", from+n, err)
		}
		wantCI, want := pcapTestPacket(from + n)
		if !bytes.Equal(data, want) || !ci.Timestamp.Equal(wantCI.Timestamp) ||
			ci.CaptureLength != wantCI.CaptureLength || ci.Length != wantCI.Length {
			return n, fmt.Errorf("packet %d: got %d/%d bytes at %v, want %d/%d at %v", from+n,
				ci.CaptureLength, ci.Length, ci.Timestamp, wantCI.CaptureLength, wantCI.Length, wantCI.Timestamp)
		}
		n++
	}
}

type pcapCheckResult struct {
	n   int
	err error
	sum [32]byte // of the raw stream
}

// pcapReadClient checks conn's stream in a goroutine; the result comes on
// the channel once the stream ends.
func pcapReadClient(conn net.Conn, from int, delay time.Duration) <-chan pcapCheckResult {
	ch := make(chan pcapCheckResult, 1)
	go func() {
		defer conn.Close()
		time.Sleep(delay)
		h := sha256.New()
		n, err := pcapCheck(io.TeeReader(conn, h), from, layers.LinkTypeEthernet)
		var r pcapCheckResult
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		ch <- r
	}()
	return ch
}

func pcapRecv(t *testing.T, ch <-chan pcapCheckResult) pcapCheckResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(8 * time.Second):
		t.Fatal("client reader did not finish")
		return pcapCheckResult{}
	}
}

func pcapNewStream(t *testing.T, cfg StreamConfig) *Stream {
	t.Helper()
	cfg.LinkType = layers.LinkTypeEthernet
	s, err := NewStream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func pcapDial(t *testing.T, s *Stream) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// pcapWaitUntil polls cond for up to 5 s.
func pcapWaitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pcapWaitClients(t *testing.T, s *Stream, n int) {
	t.Helper()
	pcapWaitUntil(t, fmt.Sprintf("%d clients", n), func() bool { return s.Stats().Clients == n })
}

// pcapGoroutinesBack waits until no more goroutines run than before.
func pcapGoroutinesBack(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pcapNoListener checks that nobody listens at addr any more.
func pcapNoListener(t *testing.T, addr net.Addr) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
}

// pcapNeedTool returns the path of a system tool, skipping the test loudly
// when it is missing outside CI and failing it in CI, where it must be
// installed (the pattern of needTool in package main).
func pcapNeedTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not installed (Debian package %s)", name, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// pcapUDPFrame is a real Ethernet/IPv4/UDP frame, for tools that decode.
func pcapUDPFrame(t *testing.T, i int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + i%1000), DstPort: 61000}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(bytes.Repeat([]byte{byte(i)}, 20+i%50))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pcapSend(s *Stream, from, to int) {
	for i := from; i < to; i++ {
		s.Packet(pcapTestPacket(i))
	}
}

func TestStreamOneClient(t *testing.T) {
	const n = 100_000
	s := pcapNewStream(t, StreamConfig{Block: true})
	res := pcapReadClient(pcapDial(t, s), 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !s.WaitClient(ctx) {
		t.Fatal("WaitClient: false")
	}
	pcapSend(s, 0, n)
	s.End(5 * time.Second)
	r := pcapRecv(t, res)
	if r.err != nil || r.n != n {
		t.Fatalf("client read %d packets, want %d: %v", r.n, n, r.err)
	}
	got, want := s.Stats(), StreamStats{Clients: 0, Served: 1, Packets: n, Sent: n, Dropped: 0}
	if got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

func TestStreamSeveralClients(t *testing.T) {
	const n, clients = 20_000, 4
	s := pcapNewStream(t, StreamConfig{Block: true})
	var res []<-chan pcapCheckResult
	for range clients {
		res = append(res, pcapReadClient(pcapDial(t, s), 0, 0))
	}
	pcapWaitClients(t, s, clients)
	pcapSend(s, 0, n)
	s.End(5 * time.Second)
	var sums [][32]byte
	for i, ch := range res {
		r := pcapRecv(t, ch)
		if r.err != nil || r.n != n {
			t.Fatalf("client %d read %d packets, want %d: %v", i, r.n, n, r.err)
		}
		sums = append(sums, r.sum)
	}
	for i := range sums {
		if sums[i] != sums[0] {
			t.Errorf("client %d got another stream than client 0", i)
		}
	}
	if st := s.Stats(); st.Sent != n*clients || st.Served != clients {
		t.Errorf("stats %+v, want Sent %d, Served %d", st, n*clients, clients)
	}
}

func TestStreamLateJoiner(t *testing.T) {
	s := pcapNewStream(t, StreamConfig{Block: true})
	early := pcapReadClient(pcapDial(t, s), 0, 0)
	pcapWaitClients(t, s, 1)
	pcapSend(s, 0, 100)
	late := pcapReadClient(pcapDial(t, s), 100, 0)
	pcapWaitClients(t, s, 2)
	pcapSend(s, 100, 250)
	s.End(5 * time.Second)
	if r := pcapRecv(t, early); r.err != nil || r.n != 250 {
		t.Errorf("early client read %d packets, want 250: %v", r.n, r.err)
	}
	// The late client's reader checks the header and starts at packet 100.
	if r := pcapRecv(t, late); r.err != nil || r.n != 150 {
		t.Errorf("late client read %d packets, want 150 (from 100): %v", r.n, r.err)
	}
}

func TestStreamNobodyConnected(t *testing.T) {
	s := pcapNewStream(t, StreamConfig{})
	pcapSend(s, 0, 1000)
	if st := s.Stats(); st.Packets != 1000 || st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
	ci, data := pcapTestPacket(1)
	allocs := testing.AllocsPerRun(100, func() { s.Packet(ci, data) })
	if allocs != 0 {
		t.Errorf("Packet with no client: %v allocations, want 0", allocs)
	}
}

func TestStreamMaxClients(t *testing.T) {
	s := pcapNewStream(t, StreamConfig{MaxClients: 2})
	a, b := pcapDial(t, s), pcapDial(t, s)
	pcapWaitClients(t, s, 2)
	c := pcapDial(t, s)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(c); len(got) != 0 || (err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset")) {
		t.Fatalf("third client read %d bytes, %v; want closed at once", len(got), err)
	}
	for _, conn := range []net.Conn{a, b} {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := pcapgo.NewReader(conn); err != nil {
			t.Errorf("admitted client: %v", err)
		}
	}
	if st := s.Stats(); st.Clients != 2 || st.Served != 2 {
		t.Errorf("stats %+v, want 2 clients, 2 served", st)
	}
}

func TestStreamWaitClient(t *testing.T) {
	s := pcapNewStream(t, StreamConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s.WaitClient(ctx) {
		t.Fatal("WaitClient with no client: true")
	}
	pcapDial(t, s)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !s.WaitClient(ctx) {
		t.Fatal("WaitClient after a client connected: false")
	}

	s2 := pcapNewStream(t, StreamConfig{})
	s2.Close()
	if s2.WaitClient(context.Background()) {
		t.Fatal("WaitClient on a closed stream: true")
	}
}

// pcapStuck connects a client that never reads, with a small receive buffer
// so that the kernel soon stops taking data for it.
func pcapStuck(t *testing.T, s *Stream) *net.TCPConn {
	t.Helper()
	c := pcapDial(t, s)
	if err := c.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	return c
}

// pcapTimedSend sends packets [from, to) and returns the longest Packet call.
func pcapTimedSend(s *Stream, from, to int) time.Duration {
	var longest time.Duration
	for i := from; i < to; i++ {
		ci, data := pcapTestPacket(i)
		t0 := time.Now()
		s.Packet(ci, data)
		longest = max(longest, time.Since(t0))
	}
	return longest
}

func TestStreamBlockDropsStalled(t *testing.T) {
	const n = 40_000 // ~12 MB, more than the kernel buffers of the stuck client
	const stall = 300 * time.Millisecond
	s := pcapNewStream(t, StreamConfig{Block: true, StallTimeout: stall, QueueBytes: 64 << 10})
	pcapStuck(t, s)
	good := pcapReadClient(pcapDial(t, s), 0, 0)
	pcapWaitClients(t, s, 2)
	start := time.Now()
	longest := pcapTimedSend(s, 0, n)
	took := time.Since(start)
	s.End(5 * time.Second)
	if r := pcapRecv(t, good); r.err != nil || r.n != n {
		t.Fatalf("good client read %d packets, want %d: %v", r.n, n, r.err)
	}
	st := s.Stats()
	if st.Dropped != 1 {
		t.Errorf("dropped %d clients, want 1 (%+v)", st.Dropped, st)
	}
	t.Logf("longest Packet %v, all %v, %+v", longest, took, st)
	// Packet waited for the stuck client until it was dropped, once.
	if longest < stall/2 || took > 4*time.Second {
		t.Errorf("longest Packet %v, all %v; want one wait near %v", longest, took, stall)
	}
}

func TestStreamNonBlockDropsStuck(t *testing.T) {
	const n = 40_000
	s := pcapNewStream(t, StreamConfig{StallTimeout: 5 * time.Second, QueueBytes: 64 << 10})
	pcapStuck(t, s)
	pcapWaitClients(t, s, 1)
	start := time.Now()
	longest := pcapTimedSend(s, 0, n)
	took := time.Since(start)
	if st := s.Stats(); st.Dropped != 1 {
		t.Fatalf("dropped %d clients, want 1 (%+v)", st.Dropped, st)
	}
	t.Logf("longest Packet %v, all %v", longest, took)
	// Dropped when its queue filled, long before the stall timeout.
	if longest > 500*time.Millisecond || took > 3*time.Second {
		t.Errorf("longest Packet %v, all %v; Packet must not wait", longest, took)
	}
	pcapWaitClients(t, s, 0)
}

func TestStreamDisconnectDoesNotBlock(t *testing.T) {
	const n = 40_000
	s := pcapNewStream(t, StreamConfig{Block: true, QueueBytes: 64 << 10})
	c := pcapDial(t, s)
	pcapWaitClients(t, s, 1)
	c.Close()
	start := time.Now()
	longest := pcapTimedSend(s, 0, n)
	if took := time.Since(start); longest > time.Second || took > 4*time.Second {
		t.Errorf("longest Packet %v, all %v; a gone client must not hold Packet", longest, took)
	}
	pcapWaitClients(t, s, 0)
	if st := s.Stats(); st.Dropped != 0 {
		t.Errorf("a client that left counted as dropped: %+v", st)
	}
}

func TestStreamEndDrains(t *testing.T) {
	const n = 5000
	s := pcapNewStream(t, StreamConfig{Block: true})
	// The client starts reading only after End was called.
	res := pcapReadClient(pcapDial(t, s), 0, 300*time.Millisecond)
	pcapWaitClients(t, s, 1)
	pcapSend(s, 0, n)
	s.End(5 * time.Second)
	if r := pcapRecv(t, res); r.err != nil || r.n != n {
		t.Fatalf("client read %d packets then EOF, want %d: %v", r.n, n, r.err)
	}
	if st := s.Stats(); st.Dropped != 0 || st.Clients != 0 {
		t.Errorf("stats %+v", st)
	}
	pcapNoListener(t, s.Addr())
}

func TestStreamEndTimeout(t *testing.T) {
	s := pcapNewStream(t, StreamConfig{})
	pcapStuck(t, s)
	pcapWaitClients(t, s, 1)
	pcapSend(s, 0, 20_000) // ~6 MB: more than the stuck client's kernel buffers
	start := time.Now()
	s.End(200 * time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("End took %v with a timeout of 200ms", took)
	}
	if st := s.Stats(); st.Dropped != 1 || st.Clients != 0 {
		t.Errorf("stats %+v, want the stuck client dropped", st)
	}
}

// pcapLeaveNothing runs a stream with a reading client, a stuck client and
// Packet blocked on the stuck one, stops it with stop, and checks that
// Packet returned, no goroutine is left and nobody listens.
func pcapLeaveNothing(t *testing.T, stop func(*Stream)) {
	before := runtime.NumGoroutine()
	s, err := NewStream(StreamConfig{LinkType: layers.LinkTypeEthernet, Block: true, QueueBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	stuck := pcapStuck(t, s)
	good := pcapReadClient(pcapDial(t, s), 0, 0)
	pcapWaitClients(t, s, 2)
	sending := make(chan int, 1)
	go func() {
		i := 0
		for ; i < 1_000_000 && s.Stats().Clients > 0; i++ {
			s.Packet(pcapTestPacket(i))
		}
		sending <- i
	}()
	pcapWaitUntil(t, "the stuck client holds Packet up", func() bool {
		p := s.Stats().Packets
		time.Sleep(50 * time.Millisecond)
		return s.Stats().Packets == p
	})
	stop(s)
	select {
	case <-sending:
	case <-time.After(3 * time.Second):
		t.Fatal("Packet still blocked after the stream stopped")
	}
	r := pcapRecv(t, good)
	if r.err != nil && !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Errorf("good client: %v", r.err)
	}
	stuck.Close()
	s.Close()
	s.End(time.Second) // both idempotent, in any order
	pcapGoroutinesBack(t, before)
	pcapNoListener(t, s.Addr())
}

func TestStreamCloseLeavesNothing(t *testing.T) {
	pcapLeaveNothing(t, (*Stream).Close)
}

func TestStreamEndLeavesNothing(t *testing.T) {
	pcapLeaveNothing(t, func(s *Stream) { s.End(100 * time.Millisecond) })
}

func TestStreamCloseConcurrent(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := NewStream(StreamConfig{LinkType: layers.LinkTypeEthernet, Block: true})
	if err != nil {
		t.Fatal(err)
	}
	res := pcapReadClient(pcapDial(t, s), 0, 0)
	pcapWaitClients(t, s, 1)
	var wg sync.WaitGroup
	wg.Go(func() { pcapSend(s, 0, 20_000) })
	wg.Go(func() { time.Sleep(5 * time.Millisecond); s.End(time.Second) })
	wg.Go(func() { time.Sleep(5 * time.Millisecond); s.Close() })
	wg.Wait()
	r := pcapRecv(t, res)
	if r.err != nil && !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Errorf("client: %v", r.err) // a prefix of the stream, cut anywhere
	}
	pcapGoroutinesBack(t, before)
	pcapNoListener(t, s.Addr())
}

func TestStreamTcpdump(t *testing.T) {
	tcpdump := pcapNeedTool(t, "tcpdump", "tcpdump")
	const n = 50
	s := pcapNewStream(t, StreamConfig{Block: true})
	cmd := exec.Command(tcpdump, "-n", "-r", "-")
	cmd.Stdin = pcapDial(t, s)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pcapWaitClients(t, s, 1)
	for i := range n {
		data := pcapUDPFrame(t, i)
		s.Packet(gopacket.CaptureInfo{Timestamp: pcapTestBase.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data)}, data)
	}
	s.End(5 * time.Second)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tcpdump -r -: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != n || !strings.Contains(lines[0], "10.0.0.1.40000 > 10.0.0.2.61000: UDP") {
		t.Fatalf("tcpdump printed %d lines, want %d:\n%s", len(lines), n, out.String())
	}
}

func TestPcapClip(t *testing.T) {
	ts := pcapTestBase
	for _, tc := range []struct {
		name            string
		ci              gopacket.CaptureInfo
		data            int
		snap            uint32
		wantCap, wantLn int
	}{
		{"as given", gopacket.CaptureInfo{Timestamp: ts, CaptureLength: 10, Length: 20}, 10, 100, 10, 20},
		{"capture length short", gopacket.CaptureInfo{Timestamp: ts, CaptureLength: 4, Length: 20}, 10, 100, 4, 20},
		{"capture length past data", gopacket.CaptureInfo{Timestamp: ts, CaptureLength: 50, Length: 50}, 10, 100, 10, 50},
		{"snaplen", gopacket.CaptureInfo{Timestamp: ts, CaptureLength: 10, Length: 10}, 10, 6, 6, 10},
		{"length short", gopacket.CaptureInfo{Timestamp: ts, CaptureLength: 10, Length: 2}, 10, 100, 10, 10},
	} {
		ci, data := pcapClip(tc.ci, make([]byte, tc.data), tc.snap)
		if ci.CaptureLength != tc.wantCap || len(data) != tc.wantCap || ci.Length != tc.wantLn || !ci.Timestamp.Equal(ts) {
			t.Errorf("%s: got %d/%d (data %d), want %d/%d", tc.name, ci.CaptureLength, ci.Length, len(data), tc.wantCap, tc.wantLn)
		}
	}
	if ci, _ := pcapClip(gopacket.CaptureInfo{}, nil, 10); ci.Timestamp.IsZero() {
		t.Error("a zero timestamp stays zero")
	}
}

// slowConn reads at most rate bytes a second.
type slowConn struct {
	net.Conn
	rate  float64
	began time.Time
	n     int64
}

func (c *slowConn) Read(p []byte) (int, error) {
	if due := c.began.Add(time.Duration(float64(c.n) / c.rate * float64(time.Second))); time.Until(due) > 0 {
		time.Sleep(time.Until(due))
	}
	n, err := c.Conn.Read(p[:min(len(p), 4<<10)])
	c.n += int64(n)
	return n, err
}

// A slow but steady reader (Wireshark over a slow link) gets the whole
// capture: it is never taken for a stalled one, during the session or
// while the end drains, however long the drain takes.
func TestStreamSlowSteadyReader(t *testing.T) {
	const n = 2500 // about 0.8 MB
	s := pcapNewStream(t, StreamConfig{Block: true, QueueBytes: 256 << 10, StallTimeout: 1500 * time.Millisecond})
	conn := pcapDial(t, s)
	res := pcapReadClient(&slowConn{Conn: conn, rate: 160 << 10, began: time.Now()}, 0, 0)
	pcapWaitClients(t, s, 1)
	pcapSend(s, 0, n)
	start := time.Now()
	s.End(time.Minute)
	if r := pcapRecv(t, res); r.err != nil || r.n != n {
		t.Fatalf("a reader at 160 KiB/s got %d of %d packets: %v", r.n, n, r.err)
	}
	if st := s.Stats(); st.Dropped != 0 {
		t.Errorf("stats %+v: the slow reader was dropped", st)
	}
	t.Logf("the end drained for %v", time.Since(start).Round(time.Millisecond))
}
