package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exposition is a scrape read back: the TYPE of each family and the value
// of each series (`name{labels}` as written).
type exposition struct {
	types   map[string]string
	samples map[string]float64
}

func parseExposition(t *testing.T, b []byte) exposition {
	t.Helper()
	e := exposition{types: map[string]string{}, samples: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			e.types[name] = typ
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		// No timestamps: the value is after the last space.
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		e.samples[line[:i]] = v
	}
	return e
}

// monotonic reports whether series only goes up between scrapes: counters,
// and a summary's _sum and _count.
func (e exposition) monotonic(series string) bool {
	name, _, _ := strings.Cut(series, "{")
	if e.types[name] == "counter" {
		return true
	}
	for _, suffix := range []string{"_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && e.types[base] == "summary" {
			return true
		}
	}
	return false
}

func scrape(t *testing.T, base string) []byte {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %s, Content-Type %q\n%s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	return b
}

// TestMetricsEndToEnd starts the real program with the emulator, scrapes
// /metrics twice with an Rt-Stat client connected in between, and checks
// both answers with promtool, that no counter went down, and that the
// probe's packets, its applications' bytes and the pushes grew.
func TestMetricsEndToEnd(t *testing.T) {
	tool := needTool(t, "promtool", "prometheus")
	c := startChild(t, "--data", t.TempDir(), "--stats-period", "1s", "--flush-interval", "1s", "--log-level", "debug")
	check := func(b []byte) {
		t.Helper()
		cmd := exec.Command(tool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, b)
		}
	}

	// The first stats period must have ended for the applications' bytes.
	time.Sleep(2500 * time.Millisecond)
	first := scrape(t, c.base)
	check(first)
	a := parseExposition(t, first)

	// A raw Rt-Stat client that starts pushes. It speaks first: a silent
	// connection from an address that just spoke HTTP waits 12 s.
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("interval::0.5\nstart\n")); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("rt-stat client: %v\n%s", err, c.log())
		}
		if strings.HasPrefix(line, "Push::") {
			break
		}
	}
	// More packets and another stats period: a second is enough, a loaded
	// CI machine gets up to ten.
	const appBytes = `edgestat_probe_app_bytes_total{probe="1",app_id="99",app="ETHERNET"}`
	var second []byte
	var b exposition
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(time.Second)
		second = scrape(t, c.base)
		b = parseExposition(t, second)
		if b.samples[appBytes] > a.samples[appBytes] || time.Now().After(deadline) {
			break
		}
	}
	check(second)

	for series, v := range a.samples {
		if !a.monotonic(series) {
			continue
		}
		if w, ok := b.samples[series]; ok && w < v {
			t.Errorf("counter %s went down: %v, then %v", series, v, w)
		}
	}
	grew := func(series string) {
		t.Helper()
		v, ok1 := a.samples[series]
		w, ok2 := b.samples[series]
		if !ok1 || !ok2 || w <= v {
			t.Errorf("%s did not grow: %v (%v), then %v (%v)", series, v, ok1, w, ok2)
		}
	}
	grew(`edgestat_probe_packets_total{probe="1",source="emulator",kind="emulator"}`)
	grew(`edgestat_probe_bytes_total{probe="1",source="emulator",kind="emulator"}`)
	grew(appBytes)
	grew(`edgestat_traffic_reports_accepted_total`)
	grew(`edgestat_rtstat_pushes_sent_total`)

	for series, want := range map[string]float64{
		`edgestat_connections{protocol="rtstat_raw"}`:                         1,
		`edgestat_connections{protocol="rtstat_ws"}`:                          0,
		`edgestat_build_info{version="` + version + `"}`:                      1,
		`edgestat_probe_running{probe="1",source="emulator",kind="emulator"}`: 1,
	} {
		if got, ok := b.samples[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	// What a soak script reads, under the standard names.
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds",
		"go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes", "edgestat_memory_total_bytes", "edgestat_uptime_seconds",
		"edgestat_database_size_bytes", "edgestat_traffic_flushes_total"} {
		if b.samples[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, b.samples[name])
		}
	}
	for _, collector := range []string{"stat", "meminfo", "loadavg", "uptime", "netdev", "runtime", "probes", "traffic", "database", "connections", "sessions", "sshmon"} {
		if got := b.samples[`edgestat_scrape_collector_success{collector="`+collector+`"}`]; got != 1 {
			t.Errorf("collector %s failed:\n%s", collector, c.log())
		}
	}
	if t.Failed() {
		t.Logf("second scrape:\n%s", second)
	}
}
