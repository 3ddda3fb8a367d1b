package rtstat

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// counterPlugin numbers its collections, so tests see which tick they got.
type counterPlugin struct{ n int }

func (p *counterPlugin) Name() string { return "counter" }
func (p *counterPlugin) Collect(_ context.Context, dst []byte, _ time.Time) ([]byte, error) {
	p.n++
	return fmt.Appendf(dst, `{"n":%d}`, p.n), nil
}

type testEnv struct {
	svc     *Service
	hub     *Hub
	rawAddr string
	wsURL   string
	built   atomic.Int32 // plugin sets made: one per interval group
}

func startService(t testing.TB, cfg Config, plugins func() []Plugin) *testEnv {
	t.Helper()
	if cfg.Version == "" {
		cfg.Version = "9.9.9"
	}
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	env := &testEnv{}
	if plugins == nil {
		plugins = func() []Plugin { return []Plugin{&counterPlugin{}} }
	}
	ctx, cancel := context.WithCancel(context.Background())
	env.hub = NewHub(ctx, func() []Plugin { env.built.Add(1); return plugins() }, cfg.Log)
	env.svc = NewService(env.hub, cfg)
	go env.svc.Run(ctx)

	rawLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := rawLn.Accept()
			if err != nil {
				return
			}
			go env.svc.ServeRaw(c)
		}
	}()
	wsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: env.svc}
	go hs.Serve(wsLn)
	env.rawAddr = rawLn.Addr().String()
	env.wsURL = "ws://" + wsLn.Addr().String() + "/"
	t.Cleanup(func() {
		rawLn.Close()
		hs.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer scancel()
		if err := env.svc.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		env.hub.Wait()
	})
	return env
}

// client is the test's view of either transport: send a message, read one.
type client interface {
	send(t *testing.T, msg string)
	read(t *testing.T, timeout time.Duration) (string, error)
	close()
}

type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{c: c, br: bufio.NewReader(c)}
}

func (r *rawClient) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := r.c.Write([]byte(msg + "\r\n")); err != nil {
		t.Fatal(err)
	}
}

func (r *rawClient) read(t *testing.T, timeout time.Duration) (string, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(timeout))
	line, err := r.br.ReadString('\n')
	if err != nil {
		return line, err
	}
	if !strings.HasSuffix(line, "\n") || strings.HasSuffix(line, "\r\n") {
		t.Fatalf("raw line %q not ended by a bare LF", line)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

func (r *rawClient) close() { r.c.Close() }

type wsClient struct {
	c  net.Conn
	rw io.ReadWriter
}

func dialWS(t *testing.T, url string) *wsClient {
	t.Helper()
	c, br, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var r io.Reader = c
	if br != nil {
		r = io.MultiReader(br, c)
	}
	return &wsClient{c: c, rw: struct {
		io.Reader
		io.Writer
	}{r, c}}
}

// send writes one text frame without a newline, as the original web client does.
func (w *wsClient) send(t *testing.T, msg string) {
	t.Helper()
	if err := wsutil.WriteClientText(w.c, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func (w *wsClient) read(t *testing.T, timeout time.Duration) (string, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(timeout))
	b, err := wsutil.ReadServerText(w.rw)
	return string(b), err
}

func (w *wsClient) close() { w.c.Close() }

func expect(t *testing.T, c client, want string) {
	t.Helper()
	got, err := c.read(t, 3*time.Second)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// expectPush reads until a Push arrives and returns its decoded JSON.
func expectPush(t *testing.T, c client, timeout time.Duration) map[string]json.RawMessage {
	t.Helper()
	got, err := c.read(t, timeout)
	if err != nil {
		t.Fatalf("waiting for a push: %v", err)
	}
	m, err := ParseMessage([]byte(got))
	if err != nil || m.Command != "push" || len(m.Args) != 1 {
		t.Fatalf("got %q, want a Push", got)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(m.Args[0]), &v); err != nil {
		t.Fatalf("push JSON %q: %v", m.Args[0], err)
	}
	return v
}

func transports(t *testing.T, env *testEnv) map[string]func() client {
	return map[string]func() client{
		"raw":       func() client { return dialRaw(t, env.rawAddr) },
		"websocket": func() client { return dialWS(t, env.wsURL) },
	}
}

func TestWelcomeAndVersion(t *testing.T) {
	env := startService(t, Config{}, nil)
	for name, dial := range transports(t, env) {
		t.Run(name, func(t *testing.T) {
			c := dial()
			expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
			c.send(t, "version")
			expect(t, c, "Version::9.9.9")
			c.send(t, "VERSION::")
			expect(t, c, "Version::9.9.9")
		})
	}
}

// Every error text of the protocol, on both transports.
func TestErrorTexts(t *testing.T) {
	env := startService(t, Config{}, nil)
	steps := []struct{ send, want string }{
		{"", "Error::Unknown message"},
		{"fly", "Error::Unknown command"},
		{"start::", "Error::Interval is not set"},
		{"stop::", "Error::Not started"},
		{"interval::0.4", "Error::Interval command has must be equal or greater than 0.5"},
		{"interval::", "Error::Interval command has 1 required parameter: int interval (not set)"},
		{"interval::soon", "Error::Interval command has 1 required parameter: int interval (not positive float)"},
		{"interval::-1", "Error::Interval command has 1 required parameter: int interval (not positive float)"},
		{"interval::1e9", "Error::Interval command has must be equal or less than 86400"},
		{"auth::", "Error::Auth command has 1 required parameter: string token (not set)"},
		{"auth::anything", "Error::Auth failed"}, // no token configured: auth fails, as the original
		{"interval::0.5", ""},
		{"start::", ""},
		{"start::", "Error::Already started"},
	}
	for name, dial := range transports(t, env) {
		t.Run(name, func(t *testing.T) {
			c := dial()
			expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
			for _, s := range steps {
				c.send(t, s.send)
				if s.want != "" {
					expect(t, c, s.want)
				}
			}
			c.send(t, "version")
			for {
				got, err := c.read(t, 3*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(got, "Version::") {
					break
				}
				if !strings.HasPrefix(got, "Push::") {
					t.Fatalf("got %q while started", got)
				}
			}
		})
	}
}

func TestAuth(t *testing.T) {
	env := startService(t, Config{Token: "s3cret::x"}, nil)
	for name, dial := range transports(t, env) {
		t.Run(name, func(t *testing.T) {
			c := dial()
			expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
			for _, cmd := range []string{"start::", "stop::", "interval::1"} {
				c.send(t, cmd)
				expect(t, c, "Error::Not authorized")
			}
			c.send(t, "version") // allowed before auth, as in the original
			expect(t, c, "Version::9.9.9")
			c.send(t, "auth::wrong")
			expect(t, c, "Error::Auth failed")
			c.send(t, "interval::1")
			expect(t, c, "Error::Not authorized")
			c.send(t, `auth::s3cret\::x`)
			c.send(t, "interval::0.5")
			c.send(t, "start::")
			expectPush(t, c, 2*time.Second)
		})
	}
}

// The original web client's exact sequence: auth, interval::1.5, start::,
// lower-case commands in frames without newline.
func TestOriginalClientSequence(t *testing.T) {
	env := startService(t, Config{Token: "tok"}, nil)
	c := dialWS(t, env.wsURL)
	expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	c.send(t, "auth::tok")
	c.send(t, "interval::1.5")
	start := time.Now()
	c.send(t, "start::")
	p := expectPush(t, c, 15*time.Second)
	// Not before the interval; after it, as soon as a loaded machine
	// gets to it (2.86 s was seen under two CPU hogs).
	if d := time.Since(start); d < 1400*time.Millisecond || d > 10*time.Second {
		t.Errorf("first push after %v, want the 1.5 s interval (and not 10 s)", d)
	}
	if string(p["counter"]) == "" {
		t.Fatalf("push %v lacks the plugin", p)
	}
	c.send(t, "stop::")
	c.send(t, "version::")
	expect(t, c, "Version::9.9.9")
	if got, err := c.read(t, 2*time.Second); err == nil {
		t.Fatalf("got %q after stop", got)
	}
}

// Telnet: CRLF, IAC negotiation, a command split across two writes, and a
// silent client greeted at once.
func TestTelnet(t *testing.T) {
	env := startService(t, Config{}, nil)
	c := dialRaw(t, env.rawAddr)
	start := time.Now()
	expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("welcome after %v, want at once", d)
	}
	write := func(s string) {
		if _, err := c.c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // separate TCP segments
	}
	write("\xff\xfd\x03\xff\xfb\x18\xff\xfa\x18\x00xterm\xff\xf0")
	write("ver")
	write("sion\r")
	write("\n")
	expect(t, c, "Version::9.9.9")
	write("interval::0.5\r\nstart::\r\n")
	expectPush(t, c, 2*time.Second)
	write("quit\r\n")
	for {
		if _, err := c.read(t, 2*time.Second); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after quit: %v, want EOF", err)
			}
			break
		}
	}
}

func TestQuitAndExit(t *testing.T) {
	env := startService(t, Config{}, nil)
	for name, dial := range transports(t, env) {
		for _, cmd := range []string{"quit", "EXIT::"} {
			t.Run(name+"/"+cmd, func(t *testing.T) {
				c := dial()
				expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
				c.send(t, cmd)
				if got, err := c.read(t, 2*time.Second); err == nil {
					t.Fatalf("got %q after %s", got, cmd)
				}
			})
		}
	}
	waitFor(t, func() bool { return env.svc.Clients() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxClients(t *testing.T) {
	env := startService(t, Config{MaxClients: 2}, nil)
	a := dialRaw(t, env.rawAddr)
	expect(t, a, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	b := dialWS(t, env.wsURL)
	expect(t, b, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	// Started clients own their slots.
	for _, c := range []client{a, b} {
		c.send(t, "interval::1")
		c.send(t, "start::")
		expectPush(t, c, 10*time.Second)
	}

	r := dialRaw(t, env.rawAddr)
	expect(t, r, "Error::Too many clients")
	if _, err := r.read(t, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("third raw client: %v, want closed", err)
	}
	w := dialWS(t, env.wsURL)
	if got, err := w.read(t, 2*time.Second); err == nil {
		t.Fatalf("third websocket client got %q, want closed", got)
	}
	if env.svc.Refused() != 2 {
		t.Fatalf("refused = %d, want 2", env.svc.Refused())
	}
	// A slot frees when a client leaves.
	a.close()
	waitFor(t, func() bool { return env.svc.Clients() == 1 })
	c := dialRaw(t, env.rawAddr)
	expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
}

// TestIdleClientsGiveWay: clients that never start (idle, or sending a
// byte at a time) hold every slot; a newcomer takes the slot of the one
// that waited longest, which is told "Too many clients", and starts.
// Before, they kept every real client out for as long as they liked.
func TestIdleClientsGiveWay(t *testing.T) {
	env := startService(t, Config{MaxClients: 3, Token: "tok"}, nil)
	var idle []client
	for i := range 6 {
		var c client
		if i%2 == 0 {
			c = dialRaw(t, env.rawAddr)
		} else {
			c = dialWS(t, env.wsURL)
		}
		expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
		idle = append(idle, c)
	}
	if n := env.svc.Clients(); n != 3 {
		t.Fatalf("%d clients counted, max 3", n)
	}
	// The first three gave way to the last three.
	expect(t, idle[0], "Error::Too many clients")
	// One of the idle ones sends a byte at a time: busy, still not started.
	trickler := idle[4].(*rawClient)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := trickler.c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	r := dialRaw(t, env.rawAddr)
	expect(t, r, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	r.send(t, "auth::tok")
	r.send(t, "interval::1")
	r.send(t, "start::")
	expectPush(t, r, 10*time.Second)
	// Started, it is never the one to give way.
	for range 5 {
		c := dialRaw(t, env.rawAddr)
		expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	}
	expectPush(t, r, 10*time.Second)
	expect(t, trickler, "Error::Too many clients")
	if env.svc.Clients() != 3 {
		t.Errorf("%d clients counted, max 3", env.svc.Clients())
	}
}

func TestLineTooLong(t *testing.T) {
	env := startService(t, Config{}, nil)
	c := dialRaw(t, env.rawAddr)
	expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	// Sent in pieces without a newline: the server must not buffer it all.
	chunk := strings.Repeat("x", 16<<10)
	for i := 0; i < 5; i++ {
		if _, err := c.c.Write([]byte(chunk)); err != nil {
			break
		}
	}
	expect(t, c, "Error::Line too long")
	if _, err := c.read(t, 2*time.Second); err == nil {
		t.Fatal("connection still open after an over-long line")
	}

	w := dialWS(t, env.wsURL)
	expect(t, w, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	w.send(t, strings.Repeat("y", MaxLine+1))
	expect(t, w, "Error::Line too long")
}

// Clients on one interval share one collection per tick; a client changing
// its interval while started moves to the other clock.
func TestSharedCollection(t *testing.T) {
	env := startService(t, Config{}, nil)
	var cs []client
	for i := 0; i < 6; i++ {
		var c client = dialRaw(t, env.rawAddr)
		if i%2 == 1 {
			c = dialWS(t, env.wsURL)
		}
		expect(t, c, "Welcome::Rt-Stat compatible edgestat v9.9.9")
		c.send(t, "interval::0.5")
		c.send(t, "start::")
		cs = append(cs, c)
	}
	var first string
	for i, c := range cs {
		p := expectPush(t, c, 2*time.Second)
		if i == 0 {
			first = string(p["counter"])
		}
		_ = first
	}
	if n := env.built.Load(); n != 1 {
		t.Fatalf("%d plugin sets built for one interval, want 1", n)
	}
	ticks := env.hub.Ticks()
	time.Sleep(1100 * time.Millisecond)
	if d := env.hub.Ticks() - ticks; d < 1 || d > 3 {
		t.Fatalf("%d collections in 1.1s at 0.5s for 6 clients, want 2", d)
	}

	c := cs[0]
	c.send(t, "interval::0.7")
	waitFor(t, func() bool { return env.hub.Groups() == 2 })
	for _, c := range cs[1:] {
		c.send(t, "stop")
	}
	waitFor(t, func() bool { return env.hub.Groups() == 1 })
	c.send(t, "stop")
	waitFor(t, func() bool { return env.hub.Groups() == 0 })
}

func TestShutdownTellsClients(t *testing.T) {
	env := startService(t, Config{}, nil)
	r := dialRaw(t, env.rawAddr)
	expect(t, r, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	w := dialWS(t, env.wsURL)
	expect(t, w, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := env.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, r, "Error::Server shutting down")
	expect(t, w, "Error::Server shutting down")
	if _, err := r.read(t, time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("raw after shutdown: %v", err)
	}
}

// A WebSocket client that only answers pings stays; one that answers
// nothing is dropped after the idle timeout with a close frame.
func TestWebSocketKeepAlive(t *testing.T) {
	env := startService(t, Config{PingInterval: 100 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}, nil)
	alive := dialWS(t, env.wsURL)
	expect(t, alive, "Welcome::Rt-Stat compatible edgestat v9.9.9")
	// wsutil answers the pings while it waits for a text frame that never comes.
	if got, err := alive.read(t, 1200*time.Millisecond); err == nil {
		t.Fatalf("got %q, want nothing", got)
	}
	_ = alive.c.SetReadDeadline(time.Time{})
	alive.send(t, "version")
	expect(t, alive, "Version::9.9.9")
	alive.close()
	waitFor(t, func() bool { return env.svc.Clients() == 0 })

	c, br, _, err := ws.Dial(context.Background(), env.wsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(800 * time.Millisecond) // read nothing, answer no ping
	var r io.Reader = c
	if br != nil {
		r = io.MultiReader(br, c)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var sawClose bool
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			break
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(r, p); err != nil {
			break
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(p)
			if code != ws.StatusGoingAway {
				t.Fatalf("close code %d, want 1001", code)
			}
			sawClose = true
		}
	}
	if !sawClose {
		t.Fatal("silent client not closed with a close frame")
	}
	waitFor(t, func() bool { return env.svc.Clients() == 0 })
}
