package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"edgestat/server"
	"edgestat/server/rtstat"
)

// syncBuffer collects the program's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startApp runs the whole program on a loopback port with a fresh data
// directory, as a user would with `go run .`, and stops it with the test.
func startApp(t *testing.T, args []string, env map[string]string) (addr string, stdout, stderr *syncBuffer, stop func() error) {
	t.Helper()
	a := launch(t, args, env)
	return a.addr, a.stdout, a.stderr, a.stop
}

// app is a running program and what a test wants of it.
type app struct {
	srv            *server.Server
	addr           string
	stdout, stderr *syncBuffer
	stop           func() error
}

func launch(t *testing.T, args []string, env map[string]string) *app {
	t.Helper()
	var addr string
	var srv *server.Server
	dir := t.TempDir()
	args = append([]string{"-i", "127.0.0.1", "-p", "0", "--data", filepath.Join(dir, "data")}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server.Server, 1)
	errc := make(chan error, 1)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	getenv := func(k string) string { return env[k] }
	go func() {
		errc <- run(ctx, args, getenv, stdout, stderr, func(s *server.Server) { ready <- s })
	}()
	select {
	case srv = <-ready:
		addr = srv.Endpoints()[0].Addr.String()
	case err := <-errc:
		t.Fatalf("run: %v\n%s", err, stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready in 10s")
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(10 * time.Second):
				runErr = errors.New("run did not return 10s after the signal")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return &app{srv: srv, addr: addr, stdout: stdout, stderr: stderr, stop: stop}
}

// The appliance end to end: telnet on the shared port gets the original
// Rt-Stat push shapes from this machine's /proc, and the program stops
// cleanly, telling its clients.
func TestAppEndToEnd(t *testing.T) {
	addr, stdout, _, stop := startApp(t, nil, nil)
	if out := stdout.String(); !strings.Contains(out, "browser: http://127.0.0.1:") || !strings.Contains(out, "telnet:  telnet 127.0.0.1 ") {
		t.Fatalf("greeting does not say where to connect:\n%s", out)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	read := func() string {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return strings.TrimSuffix(line, "\n")
	}
	if got := read(); got != "Welcome::Rt-Stat compatible edgestat v"+version {
		t.Fatalf("welcome = %q", got)
	}
	c.Write([]byte("interval::0.5\r\nstart::\r\n"))
	line := read()
	var push struct {
		CPU map[string]struct {
			Usage, User, System, Iowait *float64
		} `json:"cpu_stat"`
		Meminfo struct {
			Memory map[string]int64
			Swap   map[string]int64
		}
		Processes map[string]int
		Uptime    map[string]string
		Net       map[string]map[string]float64
		Disk      map[string]json.RawMessage
		Temp      map[string]json.RawMessage
	}
	m, err := rtstat.ParseMessage([]byte(line))
	if err != nil || m.Command != "push" || len(m.Args) != 1 {
		t.Fatalf("got %q, want a push", line)
	}
	if err := json.Unmarshal([]byte(m.Args[0]), &push); err != nil {
		t.Fatalf("push JSON: %v\n%s", err, m.Args[0])
	}
	if len(push.CPU) == 0 || push.CPU["cpu0"].Usage == nil || push.CPU["cpu0"].Iowait == nil {
		t.Errorf("cpu_stat = %+v", push.CPU)
	}
	for _, k := range []string{"total", "used", "free", "apps", "buffers", "cached", "swapCached"} {
		if _, ok := push.Meminfo.Memory[k]; !ok {
			t.Errorf("meminfo.memory lacks %q", k)
		}
	}
	if push.Meminfo.Memory["total"] <= 0 {
		t.Errorf("meminfo.memory.total = %d", push.Meminfo.Memory["total"])
	}
	for _, k := range []string{"total", "used", "free"} {
		if _, ok := push.Meminfo.Swap[k]; !ok {
			t.Errorf("meminfo.swap lacks %q", k)
		}
	}
	for _, k := range []string{"all", "running", "sleep", "stopped", "zombie"} {
		if _, ok := push.Processes[k]; !ok {
			t.Errorf("processes lacks %q", k)
		}
	}
	if push.Processes["all"] < 1 {
		t.Errorf("processes.all = %d", push.Processes["all"])
	}
	for _, k := range []string{"time", "uptime", "users", "la1", "la5", "la15"} {
		if push.Uptime[k] == "" {
			t.Errorf("uptime.%s missing in %v", k, push.Uptime)
		}
	}
	if _, ok := push.Net["lo"]; !ok {
		t.Errorf("net lacks lo: %v", push.Net)
	}
	if push.Disk == nil || push.Temp == nil {
		t.Errorf("disk or temp missing")
	}

	// HTTP on the same port.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}

	// SIGTERM's path: the client is told, the program returns.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for {
		got := read()
		if got == "Error::Server shutting down" {
			break
		}
		if !strings.HasPrefix(got, "Push::") {
			t.Fatalf("got %q while shutting down", got)
		}
	}
}

func TestCommandPluginFlag(t *testing.T) {
	addr, _, _, _ := startApp(t, []string{"--plugin", `answer=echo '{"v":42}'`},
		map[string]string{"EDGESTAT_PLUGIN": "broken=exit 1\nslow=sleep 3", "EDGESTAT_PLUGIN_TIMEOUT": "300ms"})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("interval::0.5\nstart::\n"))
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		m, _ := rtstat.ParseMessage([]byte(line))
		if m.Command != "push" {
			continue
		}
		var p map[string]json.RawMessage
		if err := json.Unmarshal([]byte(m.Args[0]), &p); err != nil {
			t.Fatal(err)
		}
		if string(p["answer"]) != `{"v":42}` || !strings.Contains(string(p["broken"]), `"error"`) || !strings.Contains(string(p["slow"]), "timed out") {
			t.Fatalf("plugins: answer=%s broken=%s slow=%s", p["answer"], p["broken"], p["slow"])
		}
		if _, ok := p["cpu_stat"]; !ok {
			t.Fatal("host plugins missing beside the command plugins")
		}
		return
	}
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-p", "9000", "--auth-token", "x", "-c", "0", "-i", "10.0.0.1"}, func(string) string { return "" }, io.Discard)
	if err != nil || cfg.port != 9000 || cfg.token != "x" || cfg.maxClients != 0 || cfg.iface != "10.0.0.1" {
		t.Fatalf("got %+v, %v", cfg, err)
	}
	env := map[string]string{"EDGESTAT_PORT": "7000", "EDGESTAT_AUTH_TOKEN": "fromenv", "EDGESTAT_MAX_CLIENTS": "3"}
	cfg, err = parseFlags([]string{"--port", "7001"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.port != 7001 || cfg.token != "fromenv" || cfg.maxClients != 3 {
		t.Fatalf("flags over env: got %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{{"-p", "x"}, {"-p", "70000"}, {"-c", "-1"}, {"--plugin", "nocommand"}, {"--nope"}, {"extra"}, {"--plugin-timeout", "0s"}} {
		if _, err := parseFlags(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := parseFlags(nil, func(k string) string {
		if k == "EDGESTAT_PORT" {
			return "eighty"
		}
		return ""
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "EDGESTAT_PORT") {
		t.Errorf("bad env: err = %v", err)
	}
	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"-i, --interface", "-p, --port", "-a, --auth-token", "-c, --max-clients", "--data", "--plugin", "$EDGESTAT_PORT", "--version", "--http-addr", "--raw-addr"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, func(string) string { return "" }, &out, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "edgestat "+version+"\n" {
		t.Fatalf("--version printed %q", out.String())
	}
}

// A busy port fails at start with a clear error, before anything is served.
func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	err = run(context.Background(), []string{"-i", "127.0.0.1", "-p", port, "--data", t.TempDir()}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
}

// Bad probe inputs fail at start with an error naming the flag; the
// commands refuse bad arguments.
func TestProbeInputErrors(t *testing.T) {
	noEnv := func(string) string { return "" }
	garbage := filepath.Join(t.TempDir(), "garbage.pcap")
	if err := os.WriteFile(garbage, []byte("this is not a capture file at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-i", "127.0.0.1", "-p", "0", "--data", t.TempDir(), "--pcap", "/nonexistent.pcap"},
		{"-i", "127.0.0.1", "-p", "0", "--data", t.TempDir(), "--pcap", garbage},
	} {
		err := run(context.Background(), args, noEnv, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), "--pcap") {
			t.Errorf("%q: err = %v, want one naming --pcap", args, err)
		}
	}
	for _, args := range [][]string{{"report"}, {"report", "/nonexistent.pcap"}, {"report", garbage}, {"emulate"}, {"emulate", "--count", "0", "--out", "x"}} {
		if err := run(context.Background(), args, noEnv, io.Discard, io.Discard, nil); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// emulate writes what report reads back, the same for the same seed.
func TestEmulateThenReport(t *testing.T) {
	noEnv := func(string) string { return "" }
	dir := t.TempDir()
	var reports [2]bytes.Buffer
	for i := range reports {
		out := filepath.Join(dir, fmt.Sprintf("e%d.pcap", i))
		if err := run(context.Background(), []string{"emulate", "--count", "500", "--seed", "9", "--out", out}, noEnv, io.Discard, io.Discard, nil); err != nil {
			t.Fatal(err)
		}
		if err := run(context.Background(), []string{"report", out}, noEnv, &reports[i], io.Discard, nil); err != nil {
			t.Fatal(err)
		}
	}
	a := strings.ReplaceAll(reports[0].String(), `"e0.pcap"`, `"e1.pcap"`)
	if a != reports[1].String() || !strings.Contains(a, "\n99,1,") {
		t.Fatalf("reports differ or lack format 99 rows:\n%.400s", a)
	}
}
