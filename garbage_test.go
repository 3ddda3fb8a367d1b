package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"edgestat/bench/garbage"
)

// Bounds of TestGarbage. RSS: on a 2-vCPU VM 128 MiB of garbage left RSS
// +2 to +10 MB over its level before (peak +5 to +10 MB), and 512 MiB +5 MB:
// the bound is three times the worst, and still catches a leak of 64 KiB a
// connection (128 MiB is about 600 connections). Pushes come every second.
const (
	garbageRSSBound   = 30 << 20 // RSS after the garbage, over RSS before it
	garbageMaxGap     = 3 * time.Second
	garbageFDSlack    = 2 // open files after the garbage, over before it
	garbageGoroutines = 8 // goroutines after, over before (when /metrics exists)
)

// TestGarbage sends random bytes to every door of the one port while
// well-behaved clients watch: to the raw side (no HTTP request line: short
// garbage lines, endless lines, text with real commands), to HTTP after a
// real request line (garbage headers, garbage bodies with and without a
// Content-Length, chunked garbage, random paths), and after real WebSocket
// upgrades to /, /monitor and /traffic/live (unframed bytes, frames with
// random headers, well-formed frames of random payload). Meanwhile a raw
// Rt-Stat client, an Rt-Stat WebSocket client (both interval::1) and a
// /traffic/live client (stats period 1 s) must get something at least every
// 3 s. Afterwards the program's RSS must be within 30 MB of what it was
// before the garbage (after a warm-up round of garbage), its open files and
// goroutines (from /metrics, when the route exists) back where they were,
// /healthz must answer, and it must shut down cleanly.
//
// EDGESTAT_GARBAGE_MB sets the garbage sent (default 64 MiB, plus an eighth
// of it as warm-up); bench/soak.sh sends 1 GiB over ten minutes.
func TestGarbage(t *testing.T) {
	if testing.Short() {
		t.Skip("sends tens of MiB of garbage to the real program")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		msg := "no /proc/self/status: this test reads the program's RSS and open files from /proc (Linux)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	mib := int64(128)
	if v := os.Getenv("EDGESTAT_GARBAGE_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("EDGESTAT_GARBAGE_MB=%q: want a whole number of MiB", v)
		}
		mib = n
	}
	c := startChild(t, "--data", filepath.Join(t.TempDir(), "data"), "--max-clients", "64",
		"--stats-period", "1s", "--log-level", "info")
	pid := c.cmd.Process.Pid
	addr := strings.TrimPrefix(c.base, "http://")
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	watchers := []*pushWatch{{name: "raw Rt-Stat"}, {name: "WebSocket Rt-Stat"}, {name: "/traffic/live"}}
	for i, run := range []func(context.Context, string, *pushWatch) error{watchRaw, watchWebSocket, watchLive} {
		w := watchers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.end(run(ctx, addr, w))
		}()
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, w := range watchers {
		for w.count() < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d messages in 15 s before any garbage (err %v)\n%s", w.name, w.count(), w.error(), c.log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	split := func(total int64) (b [garbage.NumKinds]int64) {
		b[garbage.Raw] = total * 35 / 100
		b[garbage.HTTP] = total * 25 / 100
		b[garbage.WSRtStat] = total * 20 / 100
		b[garbage.WSMonitor] = total * 10 / 100
		b[garbage.WSLive] = total * 10 / 100
		return b
	}
	note := func(msg string) { t.Log("garbage: " + msg) }
	began := time.Now()
	for _, w := range watchers {
		w.resetGap(began)
	}

	// Warm-up: an eighth of the garbage, so that what any burst of
	// connections allocates once (buffers, pools, goroutine stacks, the
	// heap's first growth) is in the "before".
	warm := garbage.New(garbage.Options{Addr: addr, Budget: split(mib << 20 / 8), Workers: 4, MaxPerConn: 512 << 10, Note: note})
	warm.Run(ctx)
	settle(t, pid, c.base, httpc, -1, -1)
	time.Sleep(2 * time.Second)
	rss0 := statusKB(t, pid, "VmRSS")
	fds0 := openFiles(t, pid)
	gor0, haveMetrics := goroutines(httpc, c.base)
	t.Logf("before: RSS %.1f MB, open files %d, goroutines %s (warm-up %.1f MiB in %v)",
		mb(rss0), fds0, orNone(gor0, haveMetrics), float64(warm.Total())/(1<<20), time.Since(began).Round(time.Millisecond))

	// The garbage, with RSS sampled all along.
	peak := rss0
	sampled := make(chan struct{})
	sctx, stopSampling := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
				if kb, ok := readStatusKB(pid, "VmRSS"); ok {
					peak = max(peak, kb)
				}
			}
		}
	}()
	run := garbage.New(garbage.Options{Addr: addr, Budget: split(mib << 20), Workers: 4, MaxPerConn: 512 << 10, Note: note})
	rchar0 := procIO(pid, "rchar")
	t0 := time.Now()
	run.Run(ctx)
	took := time.Since(t0)
	rchar := procIO(pid, "rchar") - rchar0
	stopSampling()
	<-sampled
	if ctx.Err() != nil {
		t.Fatalf("the garbage did not go through in time: %v", ctx.Err())
	}
	rssEnd := statusKB(t, pid, "VmRSS")

	// Let the closed connections go, then compare.
	settle(t, pid, c.base, httpc, fds0, gor0)
	rss1 := statusKB(t, pid, "VmRSS")
	fds1 := openFiles(t, pid)
	gor1, _ := goroutines(httpc, c.base)

	t.Logf("garbage: %.1f MiB in %v (%.1f MiB/s); the program read %.1f MiB meanwhile (rchar: sockets, and files such as /proc; "+
		"the rest was in flight when it closed a connection)", float64(run.Total())/(1<<20), took.Round(time.Millisecond),
		float64(run.Total())/(1<<20)/took.Seconds(), float64(rchar)/(1<<20))
	t.Logf("| target | MiB sent | MiB answered | connections | closed by server | refused (503) | dial errors | stalled | lingering |")
	for k := range garbage.NumKinds {
		n := run.Counts(k)
		t.Logf("| %s | %.1f | %.1f | %d | %d | %d | %d | %d | %d |", k, float64(n.Bytes)/(1<<20), float64(n.Read)/(1<<20),
			n.Conns, n.ServerClosed, n.Refused, n.DialErrors, n.Stalled, n.Lingering)
	}
	t.Logf("RSS: before %.1f MB, peak %.1f MB, at the end of the garbage %.1f MB, settled %.1f MB (%+.1f MB); open files %d -> %d; goroutines %s -> %s",
		mb(rss0), mb(peak), mb(rssEnd), mb(rss1), mb(rss1-rss0), fds0, fds1, orNone(gor0, haveMetrics), orNone(gor1, haveMetrics))
	if !haveMetrics {
		t.Logf("no /metrics route (or no go_goroutines in it): goroutines not checked, open files only")
	}

	for k := range garbage.NumKinds {
		if n := run.Counts(k); n.Stalled > 0 {
			t.Errorf("%s: %d connections where the server neither read nor closed for 15 s", k, n.Stalled)
		}
		if n := run.Counts(k); n.Lingering > 0 {
			t.Errorf("%s: %d connections the server kept open 15 s after the client's FIN", k, n.Lingering)
		}
	}
	if rss1-rss0 > garbageRSSBound>>10 {
		t.Errorf("RSS grew by %.1f MB over the garbage (bound %d MB)", mb(rss1-rss0), garbageRSSBound>>20)
	}
	if fds1 > fds0+garbageFDSlack {
		t.Errorf("open files: %d before the garbage, %d after", fds0, fds1)
	}
	if haveMetrics && gor1 > gor0+garbageGoroutines {
		t.Errorf("goroutines: %d before the garbage, %d after", gor0, gor1)
	}
	now := time.Now()
	for _, w := range watchers {
		gap, n, err := w.result(now)
		t.Logf("%s: %d messages, longest gap %v since the garbage began", w.name, n, gap.Round(time.Millisecond))
		if err != nil {
			t.Errorf("%s: the connection ended: %v", w.name, err)
		}
		if gap > garbageMaxGap {
			t.Errorf("%s: a gap of %v without a message (bound %v)", w.name, gap.Round(time.Millisecond), garbageMaxGap)
		}
	}
	resp, err := httpc.Get(c.base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz after the garbage: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"status":"ok"`)) {
		t.Errorf("/healthz after the garbage: %d %s", resp.StatusCode, body)
	}
	cancel()
	wg.Wait()
	c.stop(t)
	if l := c.log(); strings.Contains(l, "panic") || strings.Contains(l, "fatal error") || strings.Contains(l, "level=ERROR") {
		t.Errorf("the program's log has errors:\n%s", grepLines(l, "panic", "fatal error", "level=ERROR", "goroutine "))
	}
}

// settle waits (up to 20 s) until the program's open files and goroutines
// are back to at most fds and gor plus their slack (-1: until two readings
// a second apart agree), and returns the open files.
func settle(t *testing.T, pid int, base string, httpc *http.Client, fds, gor int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	prev := -1
	for {
		n := openFiles(t, pid)
		g, ok := goroutines(httpc, base)
		done := fds < 0 && n == prev || fds >= 0 && n <= fds+garbageFDSlack && (!ok || gor < 0 || g <= gor+garbageGoroutines)
		if done || time.Now().After(deadline) {
			return n
		}
		prev = n
		time.Sleep(time.Second)
	}
}

func statusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	kb, ok := readStatusKB(pid, field)
	if !ok {
		t.Fatalf("no %s in /proc/%d/status: has the program died?", field, pid)
	}
	return kb
}

// readStatusKB reads a kB field of /proc/PID/status.
func readStatusKB(pid int, field string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// procIO reads a field of /proc/PID/io (0 when unreadable).
func procIO(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return n
		}
	}
	return 0
}

func openFiles(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("open files of the program: %v", err)
	}
	return len(ents)
}

// goroutines reads go_goroutines from /metrics; false when the route or
// the metric does not exist.
func goroutines(httpc *http.Client, base string) (int, bool) {
	resp, err := httpc.Get(base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, false
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int(f), err == nil
		}
	}
	return 0, false
}

func orNone(n int, ok bool) string {
	if !ok {
		return "(no /metrics)"
	}
	return strconv.Itoa(n)
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func grepLines(s string, subs ...string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		for _, sub := range subs {
			if strings.Contains(line, sub) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}

// pushWatch records when a well-behaved client gets its messages.
type pushWatch struct {
	name string

	mu     sync.Mutex
	n      int
	from   time.Time // gaps count from here
	last   time.Time
	maxGap time.Duration
	ended  bool
	err    error
}

func (w *pushWatch) hit() {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if !w.from.IsZero() {
		w.maxGap = max(w.maxGap, now.Sub(later(w.last, w.from)))
	}
	w.last = now
}

func (w *pushWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *pushWatch) error() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// resetGap starts counting gaps at from.
func (w *pushWatch) resetGap(from time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.from, w.maxGap = from, 0
}

func (w *pushWatch) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended, w.err = true, err
	if w.err == nil {
		w.err = io.EOF
	}
}

// result is the longest gap up to now (the time since the last message
// counts), the messages, and why the connection ended if it did.
func (w *pushWatch) result(now time.Time) (time.Duration, int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	gap := max(w.maxGap, now.Sub(later(w.last, w.from)))
	if w.ended {
		return gap, w.n, w.err
	}
	return gap, w.n, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// watchRaw is a raw Rt-Stat client at interval 1 s, counting pushes until
// ctx ends.
func watchRaw(ctx context.Context, addr string, w *pushWatch) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	if _, err := nc.Write([]byte("interval::1\nstart\n")); err != nil {
		return err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return fmt.Errorf("a line over 64 KiB: %.80q", line)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch {
		case bytes.HasPrefix(line, []byte("Push::")):
			w.hit()
		case bytes.HasPrefix(line, []byte("Error::")):
			return fmt.Errorf("server said %q", bytes.TrimSpace(line))
		}
	}
}

// watchWebSocket is an Rt-Stat WebSocket client at interval 1 s.
func watchWebSocket(ctx context.Context, addr string, w *pushWatch) error {
	return watchWS(ctx, "ws://"+addr+"/", []string{"interval::1", "start::"}, "Push::", w)
}

// watchLive is a /traffic/live client of the format 99 reports.
func watchLive(ctx context.Context, addr string, w *pushWatch) error {
	return watchWS(ctx, "ws://"+addr+"/traffic/live?events=stats_raw&format=99", nil, `{"event":"stats_raw"`, w)
}

func watchWS(ctx context.Context, url string, send []string, prefix string, w *pushWatch) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	nc, br, _, err := ws.Dial(dctx, url)
	cancel()
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	var rd io.Reader = nc
	if br != nil {
		rd = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), nc)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{rd, nc}
	for _, m := range send {
		if err := wsutil.WriteClientText(nc, []byte(m)); err != nil {
			return err
		}
	}
	for {
		msg, _, err := wsutil.ReadServerData(rw) // answers pings
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch {
		case bytes.HasPrefix(msg, []byte(prefix)):
			w.hit()
		case bytes.HasPrefix(msg, []byte("Error::")):
			return fmt.Errorf("server said %q", msg)
		case len(msg) > 0 && msg[0] == '{' && !json.Valid(msg):
			return fmt.Errorf("not JSON: %.80q", msg)
		}
	}
}

// TestGarbagePipelinedRequests sends 32 requests in one write, on raw
// TCP and on the Rt-Stat WebSocket, from a client that reads every reply.
//
// TestGarbage found that the server closed such a client as if it flooded
// without reading: a connection's reader handled every line of a read
// before the writer goroutine ran, so 16 replies (the outbox's limit, with
// the Welcome) were queued at once and the outbox closed the connection
// (wire.ErrSlow); the unread requests turned the close into a reset, and
// the client got nothing, not even its Welcome. On raw TCP 16 pipelined
// `version` lines were enough, every time; on the WebSocket about 100.
// Replies now wait for room (wire.Outbox.SendWait).
func TestGarbagePipelinedRequests(t *testing.T) {
	addr, _, _, _ := startApp(t, nil, nil)
	const n = 32
	t.Run("raw", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write(bytes.Repeat([]byte("version\n"), n)); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		sc := bufio.NewScanner(nc)
		got := 0
		for got < n && sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Version::") {
				got++
			}
		}
		if got < n {
			t.Fatalf("%d of %d replies, then %v", got, n, sc.Err())
		}
	})
	t.Run("websocket", func(t *testing.T) {
		nc, br, _, err := ws.Dial(context.Background(), "ws://"+addr+"/")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		var b bytes.Buffer
		for range n * 8 {
			_ = ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte("version"))))
		}
		if _, err := nc.Write(b.Bytes()); err != nil {
			t.Fatal(err)
		}
		var rd io.Reader = nc
		if br != nil {
			rd = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), nc)
		}
		rw := struct {
			io.Reader
			io.Writer
		}{rd, nc}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for got := 0; got < n*8; {
			msg, _, err := wsutil.ReadServerData(rw)
			if err != nil {
				t.Fatalf("%d of %d replies, then %v", got, n*8, err)
			}
			if bytes.HasPrefix(msg, []byte("Version::")) {
				got++
			}
		}
	})
}
