package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"edgestat/server/rtstat"
	"edgestat/server/store"
	"edgestat/ui"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		want Kind
	}{
		{"", KindUndecided},
		{"G", KindUndecided},
		{"GE", KindUndecided},
		{"GET ", KindHTTP},
		{"GET / HTTP/1.1\r\n", KindHTTP},
		{"POST /x", KindHTTP},
		{"OPTIONS * HTTP/1.1", KindHTTP},
		{"start::\r\n", KindRaw},
		{"GETX", KindRaw},
		{"get / HTTP/1.1", KindRaw}, // methods are case-sensitive; a raw command in lower case
		{"\xff\xfd\x03", KindRaw},   // telnet negotiation
		{"version\n", KindRaw},
		{"\x16\x03\x01", KindTLS}, // a ClientHello: TLS when configured, else raw garbage
	}
	for _, tt := range tests {
		if got := Classify([]byte(tt.in)); got != tt.want {
			t.Errorf("Classify(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1", "start::", "\xff\xfd", "DELETE "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		if k == KindUndecided && len(b) >= 8 {
			t.Fatalf("%q undecided after 8 bytes", b)
		}
	})
}

type testServer struct {
	srv    *Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	hub := rtstat.NewHub(ctx, func() []rtstat.Plugin { return []rtstat.Plugin{constPlugin{}} }, log)
	cfg.RtStat = rtstat.NewService(hub, rtstat.Config{Version: "1.2.3", Log: log})
	cfg.Version = "1.2.3"
	cfg.Log = log
	if cfg.UI == nil {
		cfg.UI = ui.Handler("")
	}
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir(), string(schema), "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	s := New(cfg)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: s, cancel: cancel, done: make(chan struct{})}
	serveCtx, stopServe := context.WithCancel(ctx)
	go func() { defer close(ts.done); s.Serve(serveCtx) }()
	t.Cleanup(func() {
		stopServe()
		<-ts.done
		sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		hub.Wait()
		st.Close()
	})
	return ts
}

type constPlugin struct{}

func (constPlugin) Name() string { return "const" }
func (constPlugin) Collect(_ context.Context, dst []byte, _ time.Time) ([]byte, error) {
	return append(dst, `{"ok":true}`...), nil
}

func readLine(t *testing.T, br *bufio.Reader, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// One port serves raw Rt-Stat, HTTP and the Rt-Stat WebSocket.
func TestOnePort(t *testing.T) {
	ts := startServer(t, Config{Addr: "127.0.0.1:0"})
	addr := ts.srv.Endpoints()[0].Addr.String()

	// A silent raw client is greeted within 300 ms.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	br := bufio.NewReader(c)
	if got := readLine(t, br, c); got != "Welcome::Rt-Stat compatible edgestat v1.2.3" {
		t.Fatalf("welcome = %q", got)
	}
	// About 200 ms (the wait for HTTP); 2 s tells it from the 12 s wait of
	// an address that spoke HTTP lately, on a loaded machine too.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("welcome after %v, want about 200 ms", d)
	}
	c.Write([]byte("version\r\n"))
	if got := readLine(t, br, c); got != "Version::1.2.3" {
		t.Fatalf("version = %q", got)
	}

	// A raw client that speaks first: its bytes are not lost to the sniffing.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("ver"))
	time.Sleep(20 * time.Millisecond)
	c2.Write([]byte("sion\n"))
	br2 := bufio.NewReader(c2)
	if got := readLine(t, br2, c2); !strings.HasPrefix(got, "Welcome::") {
		t.Fatalf("first line %q", got)
	}
	if got := readLine(t, br2, c2); got != "Version::1.2.3" {
		t.Fatalf("version = %q", got)
	}

	// HTTP on the same port.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h["status"] != "ok" || h["version"] != "1.2.3" || h["store"] != "ok" {
		t.Fatalf("healthz = %d %v", resp.StatusCode, h)
	}
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<title>edgestat</title>") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body[:min(len(body), 200)])
	}
	resp, err = http.Get("http://" + addr + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET /nope = %d", resp.StatusCode)
	}

	// The Rt-Stat WebSocket on /.
	wc, wbr, _, err := ws.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	var r io.Reader = wc
	if wbr != nil {
		r = io.MultiReader(wbr, wc)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{r, wc}
	_ = wc.SetReadDeadline(time.Now().Add(3 * time.Second))
	msg, err := wsutil.ReadServerText(rw)
	if err != nil || string(msg) != "Welcome::Rt-Stat compatible edgestat v1.2.3" {
		t.Fatalf("ws welcome = %q, %v", msg, err)
	}
	wsutil.WriteClientText(wc, []byte("interval::0.5"))
	wsutil.WriteClientText(wc, []byte("start::"))
	msg, err = wsutil.ReadServerText(rw)
	if err != nil || string(msg) != `Push::{"const":{"ok":true}}` {
		t.Fatalf("ws push = %q, %v", msg, err)
	}
}

func TestSplitAddresses(t *testing.T) {
	ts := startServer(t, Config{HTTPAddr: "127.0.0.1:0", RawAddr: "127.0.0.1:0"})
	eps := ts.srv.Endpoints()
	if len(eps) != 2 || !eps[0].HTTP || eps[0].Raw || eps[1].HTTP || !eps[1].Raw {
		t.Fatalf("endpoints = %+v", eps)
	}
	resp, err := http.Get("http://" + eps[0].Addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz on the HTTP address = %d", resp.StatusCode)
	}
	// The raw address greets at once, even a client that starts with "GET ".
	c, err := net.Dial("tcp", eps[1].Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if got := readLine(t, bufio.NewReader(c), c); !strings.HasPrefix(got, "Welcome::") {
		t.Fatalf("raw address said %q", got)
	}
	// No 200 ms wait for HTTP there.
	if d := time.Since(start); d > 180*time.Millisecond {
		t.Fatalf("raw-only address waited %v before the welcome", d)
	}
}

// A browser's spare connection stays silent for seconds before it carries a
// request; from an address that spoke HTTP lately it must not get the raw
// Welcome meanwhile (Chromium then fails the request with
// ERR_INVALID_HTTP_RESPONSE), nor hold up a shutdown.
func TestBrowserSpareConnection(t *testing.T) {
	var spare net.Conn
	t.Cleanup(func() {
		if spare != nil {
			spare.Close()
		}
	})
	ts := startServer(t, Config{Addr: "127.0.0.1:0"})
	addr := ts.srv.Endpoints()[0].Addr.String()

	// A spare opened beside the first request, before the address was
	// known to speak HTTP.
	early, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_ = early.SetReadDeadline(time.Now().Add(time.Second))
	var b [1]byte
	if n, err := early.Read(b[:]); n != 0 || err == nil {
		t.Fatalf("a spare opened beside the first request got %q (%v)", b[:n], err)
	}
	if _, err := early.Write([]byte("GET /healthz HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = early.SetReadDeadline(time.Now().Add(3 * time.Second))
	if status, err := bufio.NewReader(early).ReadString('\n'); err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("the early spare's request got %q (%v)", status, err)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	var one [1]byte
	if n, err := c.Read(one[:]); n != 0 || err == nil {
		t.Fatalf("a silent connection from a browser's address got %q (%v) within a second", one[:n], err)
	}
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("the late request got %q (%v)", status, err)
	}

	// A raw client from there still gets its answers as soon as it speaks.
	r, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Write([]byte("version\n"))
	br := bufio.NewReader(r)
	if got := readLine(t, br, r); !strings.HasPrefix(got, "Welcome::") {
		t.Fatalf("first line %q", got)
	}
	if got := readLine(t, br, r); got != "Version::1.2.3" {
		t.Fatalf("version = %q", got)
	}

	// A spare still undecided does not hold up the shutdown.
	if spare, err = net.Dial("tcp", addr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v with a silent spare connection open", d)
	}
}

func TestRecentHTTPBounded(t *testing.T) {
	var r recentHTTP
	now := time.Now()
	for i := 0; i < maxRecentHTTP+100; i++ {
		r.mark(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if len(r.seen) != maxRecentHTTP {
		t.Fatalf("%d addresses remembered, want the bound %d", len(r.seen), maxRecentHTTP)
	}
	a := netip.AddrFrom4([4]byte{10, 0, 0, 1})
	if r.wait(a, now) != browserSniffWait || r.wait(a, now.Add(2*browserMemory)) != sniffWait {
		t.Fatal("wait does not follow the address's last HTTP")
	}
	// Expired entries make room.
	b := netip.AddrFrom4([4]byte{192, 168, 1, 1})
	r.mark(b, now.Add(2*browserMemory))
	if r.wait(b, now.Add(2*browserMemory)) != browserSniffWait {
		t.Fatal("a new address was not remembered after the others expired")
	}
}
