package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/julienschmidt/httprouter"

	"edgestat/probe"
	"edgestat/probe/capture"
	"edgestat/probe/emulator"
	"edgestat/server/probes"
	"edgestat/server/store"
)

func realSchema(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type env struct {
	m    *Manager
	url  string
	dir  string
	st   *store.Store
	reg  *probes.Registry
	stop func()
}

// newEnv runs a Manager and its API on loopback, with a real database.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "data"), realSchema(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if cfg.Probes == nil {
		cfg.Probes = probes.New()
	}
	if cfg.MaxCPU == 0 {
		cfg.MaxCPU = 2 // never refuse for CPU: the tests run beside others
	}
	cfg.Dir, cfg.DB, cfg.Wear = filepath.Join(dir, "data", "sessions"), st.DB(), st.Wear
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	r := httprouter.New()
	NewAPI(m).Routes(r)
	srv := httptest.NewServer(r)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return &env{m: m, url: srv.URL, dir: cfg.Dir, st: st, reg: cfg.Probes, stop: stop}
}

type started struct {
	SessionID    string  `json:"session_id"`
	Network      string  `json:"network"`
	Probe        string  `json:"probe"`
	Stream       string  `json:"stream"`
	Segmentation *string `json:"segmentation"`
	ProbeID      uint32  `json:"probe_id"`
	Location     string  `json:"location"`
	Segments     string  `json:"segments"`
}

func (e *env) post(t *testing.T, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(e.url+"/post/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) start(t *testing.T, body string) started {
	t.Helper()
	status, b := e.post(t, body)
	var s started
	if status != 200 || json.Unmarshal(b, &s) != nil {
		t.Fatalf("POST %s: %d %s", body, status, b)
	}
	return s
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// readStream reads a session's stream to its end with gopacket's reader.
func readStream(t *testing.T, location string) []pkt {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(location, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	r, err := pcapgo.NewReader(c)
	if err != nil {
		t.Fatalf("stream header: %v", err)
	}
	var out []pkt
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("stream after %d packets: %v", len(out), err)
		}
		out = append(out, pkt{append([]byte(nil), data...), ci.Timestamp.UnixMicro(), ci.Length})
	}
}

type pkt struct {
	data []byte
	us   int64
	wire int
}

func waitState(t *testing.T, e *env, id, want string) Info {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var in Info
		if status := getJSON(t, e.url+"/sessions/"+id, &in); status == 200 && in.State == want {
			return in
		} else if time.Now().After(deadline) {
			t.Fatalf("session %s: state %q, want %q", id, in.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSegmentedSession posts count=100000 with plain_stream=false: the
// stream carries exactly 100000 packets, the segments hold the same ones
// in the same order, and tcpdump reads a segment.
func TestSegmentedSession(t *testing.T) {
	e := newEnv(t, Config{SegmentPackets: 30000})
	s := e.start(t, `{"count": 100000, "plain_stream": false}`)
	if len(s.SessionID) != 16 || strings.ToUpper(s.SessionID) != s.SessionID || !strings.HasPrefix(s.Network, "network_") || len(s.Network) != 13 ||
		len(s.Probe) != 64 || len(s.Stream) != 64 || s.Segmentation == nil || len(*s.Segmentation) != 64 || !strings.HasPrefix(s.Location, "tcp://127.0.0.1:") ||
		!strings.HasSuffix(s.Segments, "/sessions/"+s.SessionID+"/segments") {
		t.Fatalf("answer %+v", s)
	}
	got := readStream(t, s.Location)
	if len(got) != 100000 {
		t.Fatalf("stream: %d packets, want 100000", len(got))
	}
	in := waitState(t, e, s.SessionID, StateFinished)
	if in.Packets != 100000 || len(in.SegmentFiles) != 4 {
		t.Fatalf("session %+v", in)
	}
	var segs []struct {
		Name    string `json:"name"`
		Packets int    `json:"packets"`
		URL     string `json:"url"`
	}
	if status := getJSON(t, s.Segments, &segs); status != 200 || len(segs) != 4 {
		t.Fatalf("segments: %d %+v", status, segs)
	}
	var all []pkt
	var first string
	for i, sg := range segs {
		resp, err := http.Get(e.url + sg.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.tcpdump.pcap" {
			t.Fatalf("%s: %d %s", sg.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if i == 0 {
			first = filepath.Join(t.TempDir(), sg.Name)
			if err := os.WriteFile(first, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			data, ci, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, pkt{append([]byte(nil), data...), ci.Timestamp.UnixMicro(), ci.Length})
			n++
		}
		if n != sg.Packets {
			t.Fatalf("%s: %d packets, listed %d", sg.Name, n, sg.Packets)
		}
	}
	if len(all) != len(got) {
		t.Fatalf("segments hold %d packets, the stream %d", len(all), len(got))
	}
	for i := range all {
		if !bytes.Equal(all[i].data, got[i].data) || all[i].us != got[i].us || all[i].wire != got[i].wire {
			t.Fatalf("packet %d differs between the stream and the segments", i)
		}
	}
	// The session's packets went through a probe of its own.
	var ps []probes.Status
	getJSON(t, e.url+"/probes", &ps)
	if len(ps) != 1 || ps[0].ID != s.ProbeID || ps[0].Kind != "session" || ps[0].Session != s.SessionID || ps[0].Packets != 100000 {
		t.Fatalf("probes %+v", ps)
	}
	// tcpdump reads a segment.
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump not installed (Debian package tcpdump)")
		}
		t.Skip("SKIPPED the tcpdump check: tcpdump not installed (Debian package tcpdump)")
	}
	out, err := exec.Command(tcpdump, "-n", "-r", first).Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	if n := strings.Count(string(out), "\n"); n != segs[0].Packets {
		t.Fatalf("tcpdump printed %d lines, want %d", n, segs[0].Packets)
	}
}

// TestBadBodies: every malformed body gets a 400 naming the field.
func TestBadBodies(t *testing.T) {
	e := newEnv(t, Config{MaxCount: 1000})
	for body, field := range map[string]string{
		``:                                                    "body",
		`[]`:                                                  "body",
		`null`:                                                "body",
		`{"count": 5`:                                         "body",
		`{"count": 5, "plain_stream": true} {}`:               "body",
		`{"plain_stream": true}`:                              "count",
		`{"count": 0, "plain_stream": true}`:                  "count",
		`{"count": 1001, "plain_stream": true}`:               "count",
		`{"count": -3, "plain_stream": true}`:                 "count",
		`{"count": 2.5, "plain_stream": true}`:                "count",
		`{"count": "10", "plain_stream": true}`:               "count",
		`{"count": 1e3, "plain_stream": true}`:                "count",
		`{"count": 10}`:                                       "plain_stream",
		`{"count": 10, "plain_stream": "false"}`:              "plain_stream",
		`{"count": 10, "plain_stream": 0}`:                    "plain_stream",
		`{"count": 10, "plain_stream": null}`:                 "plain_stream",
		`{"count": 10, "plain_stream": true, "x": 1}`:         "x",
		`{"count": 10, "plain_stream": true, "duration": 5}`:  "duration",
		`{"probe": 7, "plain_stream": true}`:                  "probe",
		`{"probe": -1, "plain_stream": true}`:                 "probe",
		`{"probe": 1, "plain_stream": true, "duration": 0}`:   "duration",
		`{"probe": 1, "plain_stream": true, "duration": "1"}`: "duration",
	} {
		status, b := e.post(t, body)
		var ae apiError
		if status != 400 || json.Unmarshal(b, &ae) != nil || ae.Error.Field != field || ae.Error.Message == "" {
			t.Errorf("%s: %d %s, want 400 naming %q", body, status, b, field)
		}
	}
	big := `{"count": 10, "plain_stream": true, "pad": "` + strings.Repeat("x", MaxBody) + `"}`
	if status, _ := e.post(t, big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", status)
	}
	if n := len(e.m.List()); n != 0 {
		t.Fatalf("%d sessions started by bad bodies", n)
	}
}

// openFDs counts this process's open files, leaving out the database's:
// its connection pool grows and shrinks with load, sessions or not.
func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range entries {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); !strings.Contains(l, "edgestat.db") {
			n++
		}
	}
	return n
}

// settle waits until f reports at most want, for goroutines and files
// that close a moment after the work ends.
func settle(t *testing.T, what string, want int, f func() int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := f()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d, want at most %d\n%v\n%s", what, n, want, listFDs(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestManySessionsAndCleanUp starts 50 sessions at once, refuses the 51st,
// and after DELETE and the janitor finds no goroutine, descriptor, port or
// file of theirs.
func TestManySessionsAndCleanUp(t *testing.T) {
	e := newEnv(t, Config{MaxSessions: 50, SegmentPackets: 500, Grace: time.Nanosecond, Retention: time.Nanosecond})
	http.DefaultClient.CloseIdleConnections()
	// Warm the HTTP connection pool and the database before counting.
	var res Resources
	getJSON(t, e.url+"/resources", &res)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	var ss []started
	for i := 0; i < 50; i++ {
		ss = append(ss, e.start(t, fmt.Sprintf(`{"count": 2000, "plain_stream": %v}`, i%2 == 0)))
	}
	status, b := e.post(t, `{"count": 10, "plain_stream": true}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(b), "50 sessions run") {
		t.Fatalf("the 51st: %d %s", status, b)
	}
	getJSON(t, e.url+"/resources", &res)
	if res.Sessions != 50 || res.Ports != 50 || res.Limits.MaxSessions != 50 || res.MemTotal == 0 || res.DiskTotal == 0 {
		t.Fatalf("resources %+v", res)
	}
	var wg sync.WaitGroup
	counts := make([]int, len(ss))
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i] = len(readStream(t, s.Location))
		}()
	}
	wg.Wait()
	for i, s := range ss {
		if counts[i] != 2000 {
			t.Fatalf("session %d got %d packets", i, counts[i])
		}
		waitState(t, e, s.SessionID, StateFinished)
	}
	// Half go by DELETE, the rest by the janitor.
	for _, s := range ss[:25] {
		req, _ := http.NewRequest(http.MethodDelete, e.url+"/sessions/"+s.SessionID, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("DELETE: %d", resp.StatusCode)
		}
	}
	e.m.Sweep(context.Background(), time.Now().Add(time.Second))
	if n := len(e.m.List()); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if left, _ := os.ReadDir(e.dir); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
	for _, s := range ss {
		if c, err := net.Dial("tcp", strings.TrimPrefix(s.Location, "tcp://")); err == nil {
			c.Close()
			t.Fatalf("%s still listens", s.Location)
		}
	}
	if ps := e.reg.List(); len(ps) != 0 {
		t.Fatalf("probes left: %+v", ps)
	}
	http.DefaultClient.CloseIdleConnections()
	settle(t, "goroutines", goroutines, runtime.NumGoroutine)
	settle(t, "open files", fds, func() int { return openFDs(t) })
	var states []string
	rows, err := e.st.DB().Query(`SELECT state FROM sessions WHERE files_deleted = 0 AND dir != ''`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		states = append(states, s)
	}
	rows.Close()
	if len(states) != 0 {
		t.Fatalf("records still hold files: %v", states)
	}
}

// TestProbeSession streams the live packets of a running pcap replay and
// ends at its packet limit.
func TestProbeSession(t *testing.T) {
	reg := probes.New()
	e := newEnv(t, Config{Probes: reg})
	// A replay of 20 s of emulated traffic at its recorded speed.
	file := filepath.Join(t.TempDir(), "replay.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := emulator.WritePcap(f, emulator.Options{Count: 20000, Rate: 1000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	in, err := capture.Open(file, capture.FileOptions{Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := probe.New(in, probe.Options{ID: 7})
	if err != nil {
		t.Fatal(err)
	}
	entry := reg.Add(p, "replay", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx); entry.End() }()
	defer func() { cancel(); <-done }()

	s := e.start(t, `{"probe": 7, "plain_stream": true, "count": 500}`)
	if s.ProbeID != 7 || s.Segmentation != nil {
		t.Fatalf("answer %+v", s)
	}
	if got := readStream(t, s.Location); len(got) != 500 {
		t.Fatalf("stream: %d packets, want the limit of 500", len(got))
	}
	in2 := waitState(t, e, s.SessionID, StateFinished)
	if in2.Packets != 500 {
		t.Fatalf("session sent %d packets, want 500", in2.Packets)
	}
	// The probe goes on after the session (its counters are published
	// about every second).
	var st probes.Status
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if getJSON(t, e.url+"/probes/7", &st) != 200 || st.Kind != "replay" || st.State != probes.Running {
			t.Fatalf("probe 7: %+v", st)
		}
		if st.Packets >= 500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe 7 counts %d packets", st.Packets)
		}
	}
	if getJSON(t, e.url+"/probes/8", nil) != 404 || getJSON(t, e.url+"/probes/x", nil) != 400 {
		t.Fatal("unknown probe ids answered")
	}
}

func listFDs() []string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range entries {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, l)
	}
	return out
}

// TestAdmissionReasons: each host limit refuses a session with its reason
// and starts nothing.
func TestAdmissionReasons(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		body string
		want string
	}{
		{Config{MaxCPU: 1e-9}, `{"count": 10, "plain_stream": true}`, "CPUs are"},
		{Config{MinMemory: 1 << 62}, `{"count": 10, "plain_stream": true}`, "of memory available"},
		{Config{MinDisk: 1 << 62}, `{"count": 10, "plain_stream": false}`, "MiB free in"},
		{Config{MaxSessions: 1}, `{"count": 10, "plain_stream": true}`, "1 sessions run"},
	} {
		e := newEnv(t, c.cfg)
		if c.cfg.MaxSessions == 1 {
			e.start(t, c.body)
		}
		status, b := e.post(t, c.body)
		if status != http.StatusServiceUnavailable || !strings.Contains(string(b), c.want) {
			t.Errorf("%+v: %d %s, want 503 about %q", c.cfg, status, b, c.want)
		}
		if want := map[bool]int{true: 1, false: 0}[c.cfg.MaxSessions == 1]; len(e.m.List()) != want {
			t.Errorf("%+v: %d sessions", c.cfg, len(e.m.List()))
		}
	}
	// Disk space is no reason to refuse a plain stream, which writes nothing.
	e := newEnv(t, Config{MinDisk: 1 << 62})
	e.start(t, `{"count": 10, "plain_stream": true}`)
}
