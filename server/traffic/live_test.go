package traffic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"edgestat/probe"
	"edgestat/server/wire"
)

// hubEnv is a Hub behind a real HTTP server on loopback.
type hubEnv struct {
	hub  *Hub
	ws   string // "ws://127.0.0.1:port"
	http string // "http://127.0.0.1:port"
}

// hubOptions change the server of startHub.
type hubOptions struct {
	sndbuf int // SO_SNDBUF of accepted connections, 0 = the system's
}

func startHub(t testing.TB, cfg HubConfig, opt hubOptions) *hubEnv {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = hubTestLogger()
	}
	h := NewHub(cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /traffic/live", h.ServeLive)
	mux.HandleFunc("/socket.io/", h.ServeSocketIO)
	srv := httptest.NewUnstartedServer(mux)
	if opt.sndbuf > 0 {
		srv.Listener = hubSndbufListener{srv.Listener, opt.sndbuf}
	}
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.Run(ctx)
	}()
	t.Cleanup(func() {
		h.Close()
		cancel()
		wg.Wait()
		srv.Close()
	})
	return &hubEnv{hub: h, ws: "ws" + strings.TrimPrefix(srv.URL, "http"), http: srv.URL}
}

// hubTestLogger logs to stderr with EDGESTAT_TEST_LOG=debug, else nowhere.
func hubTestLogger() *slog.Logger {
	if os.Getenv("EDGESTAT_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type hubSndbufListener struct {
	net.Listener
	size int
}

func (l hubSndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// hubWaitFor polls cond until it holds, failing the test after 10 s.
func hubWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *hubEnv) waitClients(t testing.TB, live, sio int) {
	t.Helper()
	hubWaitFor(t, fmt.Sprintf("%d live and %d socket.io clients", live, sio), func() bool {
		l, s := e.hub.Clients()
		return l == live && s == sio
	})
}

// A hubWSClient is a test WebSocket client over a real socket.
type hubWSClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
	// pongs: answer WebSocket pings, and Engine.IO pings ("2") with "3".
	pongs bool
}

func hubDial(t testing.TB, url string) *hubWSClient {
	t.Helper()
	return hubDialWith(t, ws.Dialer{}, url)
}

func hubDialWith(t testing.TB, d ws.Dialer, url string) *hubWSClient {
	t.Helper()
	conn, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	c := &hubWSClient{t: t, conn: conn, r: bufio.NewReaderSize(r, 64<<10), pongs: true}
	t.Cleanup(func() { conn.Close() })
	return c
}

// hubDialStatus attempts an upgrade that must be refused, returning the
// status and body of the answer.
func hubDialStatus(t testing.TB, url string) (int, string) {
	t.Helper()
	var status int
	var body []byte
	d := ws.Dialer{OnStatusError: func(code int, _ []byte, resp io.Reader) {
		status = code
		r, err := http.ReadResponse(bufio.NewReader(resp), nil)
		if err != nil {
			t.Errorf("read response: %v", err)
			return
		}
		defer r.Body.Close()
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", url, ct)
		}
		body, _ = io.ReadAll(r.Body)
	}}
	conn, _, _, err := d.Dial(context.Background(), url)
	if err == nil {
		conn.Close()
		t.Fatalf("%s: upgraded, want a refusal", url)
	}
	return status, strings.TrimSpace(string(body))
}

func (c *hubWSClient) send(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewFrame(op, true, p)))
}

func (c *hubWSClient) sendText(s string) {
	c.t.Helper()
	if err := c.send(ws.OpText, []byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// next returns the next text or close frame, answering pings on the way
// when c.pongs.
func (c *hubWSClient) next() (ws.OpCode, []byte, error) {
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return 0, nil, err
		}
		if h.Masked {
			return 0, nil, errors.New("server frame is masked")
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return 0, nil, err
		}
		switch {
		case h.OpCode == ws.OpPing:
			if c.pongs {
				_ = c.send(ws.OpPong, p)
			}
		case h.OpCode == ws.OpText && string(p) == "2" && c.pongs:
			_ = c.send(ws.OpText, []byte("3"))
		case !h.Fin:
			return 0, nil, errors.New("fragmented server frame")
		case h.OpCode == ws.OpText || h.OpCode == ws.OpClose:
			return h.OpCode, p, nil
		default:
			return 0, nil, fmt.Errorf("unexpected opcode %v", h.OpCode)
		}
	}
}

// text returns the next message, failing on anything else.
func (c *hubWSClient) text() string {
	c.t.Helper()
	op, p, err := c.next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if op != ws.OpText {
		c.t.Fatalf("got a close frame %s, want a message", hubCloseString(p))
	}
	return string(p)
}

// expectClose reads until the close frame, which must carry code.
func (c *hubWSClient) expectClose(code ws.StatusCode) {
	c.t.Helper()
	op, p, err := c.next()
	if err != nil {
		c.t.Fatalf("read: %v, want close %d", err, code)
	}
	if op != ws.OpClose {
		c.t.Fatalf("got message %.200q, want close %d", p, code)
	}
	if got, _ := ws.ParseCloseFrameData(p); got != code {
		c.t.Fatalf("close %s, want %d", hubCloseString(p), code)
	}
	// The server closes the socket after its close frame.
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.r.ReadByte(); err == nil {
		c.t.Fatalf("data after the close frame")
	}
}

func hubCloseString(p []byte) string {
	code, reason := ws.ParseCloseFrameData(p)
	return fmt.Sprintf("%d %q", code, reason)
}

// pump reads c in a goroutine, answering pings, until the connection
// ends; messages go to the returned channel, which closes at the end.
func (c *hubWSClient) pump(t testing.TB) <-chan string {
	ch := make(chan string, 1<<16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			op, p, err := c.next()
			if err != nil || op != ws.OpText {
				return
			}
			ch <- string(p)
		}
	}()
	t.Cleanup(func() { c.conn.Close(); <-done })
	return ch
}

func liveMessage(event string, data []byte) string {
	return `{"event":"` + event + `","data":` + string(data) + `}`
}

func liveRaw(r probe.Row) string    { return liveMessage("stats_raw", r.AppendJSON(nil)) }
func liveObject(r probe.Row) string { return liveMessage("stats", AppendObject(nil, r)) }

// hubPublishable is every sample row the hub publishes (not format 100).
func hubPublishable() []probe.Row {
	var out []probe.Row
	for _, r := range hubSampleRows() {
		if hubRowFormat(r) != probe.FormatHosts {
			out = append(out, r)
		}
	}
	return out
}

// hubNumbered returns a format 99 row whose fields tell i.
func hubNumbered(i int) *probe.StatRow {
	return &probe.StatRow{Probe: 1, Source: "eth0", Time: 1700000000000 + int64(i), App: 354,
		Path: "99.178.354", TotalFlows: uint64(i), ActiveFlows: 1, Bytes: uint64(i) * 100, Payload: 10, Packets: uint64(i)}
}

func TestLiveDeliversEveryRowInOrder(t *testing.T) {
	e := startHub(t, HubConfig{}, hubOptions{})
	c := hubDial(t, e.ws+"/traffic/live")
	e.waitClients(t, 1, 0)

	var want []string
	for round := range 20 {
		for _, r := range hubSampleRows() {
			e.hub.Publish(r) // host rows are ignored
			if hubRowFormat(r) != probe.FormatHosts {
				want = append(want, liveRaw(r), liveObject(r))
			}
		}
		r := hubNumbered(round)
		e.hub.Publish(hubOtherRow{r}) // a Row of another type is published as well
		want = append(want, liveRaw(r), liveObject(r))
	}
	for i, w := range want {
		if got := c.text(); got != w {
			t.Fatalf("message %d:\n got %s\nwant %s", i, got, w)
		}
	}
	e.hub.Close()
	c.expectClose(ws.StatusGoingAway) // and nothing else before it

	st := e.hub.Stats()
	if st.Published != uint64(len(want)/2) || st.Sent != uint64(len(want)) {
		t.Errorf("stats %+v, want %d published, %d sent", st, len(want)/2, len(want))
	}
}

func TestLiveFilters(t *testing.T) {
	e := startHub(t, HubConfig{}, hubOptions{})
	rows := hubPublishable()
	byFormat := func(formats ...int) func(probe.Row) bool {
		return func(r probe.Row) bool {
			for _, f := range formats {
				if hubRowFormat(r) == f {
					return true
				}
			}
			return false
		}
	}
	cases := []struct {
		query       string
		raw, object bool
		wants       func(probe.Row) bool
	}{
		{"", true, true, byFormat(99, 0, 1, 2, 3)},
		{"?events=stats_raw&format=99", true, false, byFormat(99)},
		{"?events=stats&format=1,2", false, true, byFormat(1, 2)},
		{"?format=[0,3]", true, true, byFormat(0, 3)},
		{`?events=["stats"]&format=99&format=3`, false, true, byFormat(99, 3)},
		{"?format[]=2&events[]=stats_raw&events[]=stats", true, true, byFormat(2)},
		{"?events=stats_raw,+stats&format=%2099", true, true, byFormat(99)},
	}
	clients := make([]*hubWSClient, len(cases))
	for i, tc := range cases {
		clients[i] = hubDial(t, e.ws+"/traffic/live"+tc.query)
	}
	e.waitClients(t, len(cases), 0)
	for _, r := range rows {
		e.hub.Publish(r)
	}
	e.hub.Close()
	for i, tc := range cases {
		for _, r := range rows {
			if !tc.wants(r) {
				continue
			}
			if tc.raw {
				if got, want := clients[i].text(), liveRaw(r); got != want {
					t.Fatalf("%s:\n got %s\nwant %s", tc.query, got, want)
				}
			}
			if tc.object {
				if got, want := clients[i].text(), liveObject(r); got != want {
					t.Fatalf("%s:\n got %s\nwant %s", tc.query, got, want)
				}
			}
		}
		clients[i].expectClose(ws.StatusGoingAway)
	}
}

func TestLiveRefusals(t *testing.T) {
	e := startHub(t, HubConfig{MaxClients: 2}, hubOptions{})
	badParam := func(name string) func(string) error {
		return func(body string) error {
			var v struct {
				Error struct {
					Message string `json:"message"`
					Code    int    `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				return err
			}
			if v.Error.Code != 1102 || !strings.Contains(v.Error.Message, name) {
				return fmt.Errorf("want code 1102 naming %q", name)
			}
			return nil
		}
	}
	for _, tc := range []struct {
		query string
		check func(string) error
	}{
		{"?events=stats_rawx", badParam("events")},
		{"?events=", badParam("events")},
		{"?format=98", badParam("format")},
		{"?format=100", badParam("format")},
		{"?format=99,", badParam("format")},
		{"?format=[99", badParam("format")},
		{"?format=[true]", badParam("format")},
		{"?format[]=x", badParam("format")},
	} {
		status, body := hubDialStatus(t, e.ws+"/traffic/live"+tc.query)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.query, status)
		}
		if err := tc.check(body); err != nil {
			t.Errorf("%s: %s: %v", tc.query, body, err)
		}
	}

	// A plain GET is not a WebSocket.
	resp, err := http.Get(e.http + "/traffic/live")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":1102`) ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("plain GET: %d %s", resp.StatusCode, body)
	}

	// The limit counts both protocols.
	hubDial(t, e.ws+"/traffic/live")
	sio := hubDial(t, e.ws+"/socket.io/?EIO=4&transport=websocket")
	sio.text() // the open packet
	e.waitClients(t, 1, 1)
	for _, path := range []string{"/traffic/live", "/socket.io/?EIO=4&transport=websocket"} {
		status, body := hubDialStatus(t, e.ws+path)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":1103`) ||
			!strings.Contains(body, "too many clients") {
			t.Errorf("%s over the limit: %d %s", path, status, body)
		}
	}
	if st := e.hub.Stats(); st.Rejected != 2 {
		t.Errorf("rejected %d, want 2", st.Rejected)
	}
}

func TestLiveKeepAlive(t *testing.T) {
	e := startHub(t, HubConfig{PingInterval: 25 * time.Millisecond, PingTimeout: 250 * time.Millisecond}, hubOptions{})
	good := hubDial(t, e.ws+"/traffic/live")
	silent := hubDial(t, e.ws+"/traffic/live")
	silent.pongs = false
	msgs := good.pump(t)
	e.waitClients(t, 2, 0)

	// The silent client hears pings, never answers, and is closed.
	silent.expectClose(ws.StatusGoingAway)
	e.waitClients(t, 1, 0)

	// Several idle periods later the good one is still served.
	time.Sleep(700 * time.Millisecond)
	r := hubNumbered(1)
	e.hub.Publish(r)
	for _, want := range []string{liveRaw(r), liveObject(r)} {
		select {
		case got, ok := <-msgs:
			if !ok {
				t.Fatal("the client that answers pings was closed")
			}
			if got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
	}
}

func TestLiveIgnoresClientMessages(t *testing.T) {
	e := startHub(t, HubConfig{MaxMessage: 1024}, hubOptions{})
	c := hubDial(t, e.ws+"/traffic/live")
	e.waitClients(t, 1, 0)
	c.sendText("hello")
	if err := c.send(ws.OpBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.send(ws.OpPing, []byte("p")); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(c.r)
	if err != nil || h.OpCode != ws.OpPong {
		t.Fatalf("want a pong, got %+v %v", h, err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil || string(p) != "p" {
		t.Fatalf("pong %q %v", p, err)
	}
	r := hubNumbered(7)
	e.hub.Publish(r)
	if got := c.text(); got != liveRaw(r) {
		t.Fatalf("got %s", got)
	}
	c.text()

	// A message over MaxMessage closes with 1009.
	c.sendText(strings.Repeat("x", 1025))
	c.expectClose(ws.StatusMessageTooBig)
	e.waitClients(t, 0, 0)
}

func TestLiveClientCloses(t *testing.T) {
	e := startHub(t, HubConfig{}, hubOptions{})
	c := hubDial(t, e.ws+"/traffic/live")
	e.waitClients(t, 1, 0)
	if err := c.send(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")); err != nil {
		t.Fatal(err)
	}
	c.expectClose(ws.StatusNormalClosure)
	e.waitClients(t, 0, 0)
}

// hubSmallRcvbuf dials with a tiny receive buffer, set before the handshake
// so that the TCP window stays small.
func hubSmallRcvbuf() ws.Dialer {
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return err
	}}
	return ws.Dialer{NetDial: nd.DialContext}
}

// A client that stops reading is dropped; a good client still gets every
// row, and Publish never waits for either.
func TestLiveSlowClientDropped(t *testing.T) {
	const queue = 256
	e := startHub(t, HubConfig{QueueLen: queue}, hubOptions{sndbuf: 8192})
	slow := hubDialWith(t, hubSmallRcvbuf(), e.ws+"/traffic/live") // never reads until the end
	good := hubDial(t, e.ws+"/traffic/live?events=stats_raw")
	e.waitClients(t, 2, 0)

	const n = 20000
	var received atomic.Int64
	goodErr := make(chan error, 1)
	go func() {
		for i := range n {
			op, p, err := good.next()
			if err == nil && op != ws.OpText {
				err = fmt.Errorf("close %s", hubCloseString(p))
			}
			if err != nil {
				goodErr <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			if want := liveRaw(hubNumbered(i)); string(p) != want {
				goodErr <- fmt.Errorf("message %d: got %s, want %s", i, p, want)
				return
			}
			received.Add(1)
		}
		goodErr <- nil
	}()

	published := make(chan error, 1)
	go func() {
		for i := range n {
			// Pace on the good client only, so that its queue never
			// overflows: what it has not read yet is at most queue/2.
			for int64(i)-received.Load() > queue/2 {
				select {
				case err := <-goodErr:
					published <- fmt.Errorf("good client failed at row %d: %v", i, err)
					return
				default:
				}
				time.Sleep(50 * time.Microsecond)
			}
			e.hub.Publish(hubNumbered(i))
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("Publish is stuck: %d rows read by the good client", received.Load())
	}
	if err := <-goodErr; err != nil {
		t.Fatal(err)
	}
	e.waitClients(t, 1, 0)
	if st := e.hub.Stats(); st.Slow != 1 {
		t.Errorf("slow clients %d, want 1", st.Slow)
	}
	// The slow client finds its stream cut short without a close frame: its
	// queue overflowed, nothing more could be written.
	for {
		op, _, err := slow.next()
		if err != nil {
			break
		}
		if op == ws.OpClose {
			t.Fatal("close frame sent to a client whose queue is full")
		}
	}
}

func TestHubCloseSaysGoingAway(t *testing.T) {
	e := startHub(t, HubConfig{}, hubOptions{})
	live := hubDial(t, e.ws+"/traffic/live")
	sio := hubDial(t, e.ws+"/socket.io/?EIO=4&transport=websocket")
	sio.text()
	sio.sendText("40")
	sio.text()
	e.waitClients(t, 1, 1)
	e.hub.Close()
	live.expectClose(ws.StatusGoingAway)
	sio.expectClose(ws.StatusGoingAway)
	if l, s := e.hub.Clients(); l != 0 || s != 0 {
		t.Errorf("clients after Close: %d, %d", l, s)
	}
	status, body := hubDialStatus(t, e.ws+"/traffic/live")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("after Close: %d %s", status, body)
	}
	e.hub.Close() // twice is fine
	e.hub.Publish(hubNumbered(1))
}

func TestHubPublishIdleAllocatesNothing(t *testing.T) {
	h := NewHub(HubConfig{Log: hubTestLogger()})
	r := hubNumbered(1)
	if n := testing.AllocsPerRun(1000, func() { h.Publish(r) }); n != 0 {
		t.Errorf("Publish without clients: %v allocations", n)
	}
}

func TestHubEncodeSharesOneAllocation(t *testing.T) {
	r := hubSampleRows()[3] // HTTP flow
	hubEncode(r, 1<<hubKinds-1)
	if n := testing.AllocsPerRun(1000, func() { hubEncode(r, 1<<hubKinds-1) }); n != 1 {
		t.Errorf("%v allocations for the four frames, want 1", n)
	}
	frames := hubEncode(r, 1<<hubKinds-1)
	for k, body := range [hubKinds][]byte{r.AppendJSON(nil), AppendObject(nil, r), r.AppendJSON(nil), AppendObject(nil, r)} {
		h, err := ws.ReadHeader(bytes.NewReader(frames[k]))
		if err != nil || !h.Fin || h.OpCode != ws.OpText || h.Masked {
			t.Fatalf("kind %d: header %+v %v", k, h, err)
		}
		want := hubWrap[k][0] + string(body) + hubWrap[k][1]
		if got := string(frames[k][len(frames[k])-int(h.Length):]); got != want {
			t.Errorf("kind %d: %s, want %s", k, got, want)
		}
		if cap(frames[k]) != len(frames[k]) {
			t.Errorf("kind %d: frame has spare capacity", k)
		}
	}
}

func TestHubTextHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 1000, 0xffff, 0x10000, 1 << 20} {
		got := hubAppendTextHeader([]byte("x"), n)
		if want := wire.AppendTextFrameHeader([]byte("x"), n); !bytes.Equal(got, want) {
			t.Errorf("%d: % x, want % x", n, got, want)
		}
	}
}

// hubSkipFrame reads past one unmasked server frame, returning its
// payload length, without allocating (ws.ReadHeader does), so that a
// benchmark counts the server's allocations only.
func hubSkipFrame(r *bufio.Reader) (int, error) {
	if _, err := r.ReadByte(); err != nil { // FIN and opcode
		return 0, err
	}
	b1, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	n := int(b1 & 0x7f)
	var ext int
	switch n {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if ext > 0 {
		n = 0
		for range ext {
			b, err := r.ReadByte()
			if err != nil {
				return 0, err
			}
			n = n<<8 | int(b)
		}
	}
	_, err = r.Discard(n)
	return n, err
}

// BenchmarkPublish publishes a row to N live clients over loopback, each
// read by a goroutine, until every client has it.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{0, 1, 100} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			e := startHub(b, HubConfig{QueueLen: 1 << 16}, hubOptions{})
			var got atomic.Int64
			for range n {
				c := hubDial(b, e.ws+"/traffic/live")
				go func() {
					for {
						n, err := hubSkipFrame(c.r)
						if err != nil {
							return
						}
						if n > 0 { // not a ping
							got.Add(1)
						}
					}
				}()
			}
			e.waitClients(b, n, 0)
			r := hubNumbered(1)
			b.ReportAllocs()
			for b.Loop() {
				want := got.Load() + int64(2*n)
				e.hub.Publish(r)
				for got.Load() < want {
					time.Sleep(20 * time.Microsecond)
				}
			}
		})
	}
}
