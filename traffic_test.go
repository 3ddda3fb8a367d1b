package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgestat/server/store"
)

// TestMain lets a test start this binary as the real program in a child
// process (to kill it), without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("EDGESTAT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is the program running in its own process.
type child struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{}
}

var browserLine = regexp.MustCompile(`browser: (http://127\.0\.0\.1:\d+)/`)

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startChildIn(t, nil, args...)
}

// startChildIn starts the program behind a command prefix, such as
// ip netns exec NS (which execs it, so the pid is the program's).
func startChildIn(t *testing.T, prefix []string, args ...string) *child {
	t.Helper()
	argv := append(append(prefix, os.Args[0], "-i", "127.0.0.1", "-p", "0"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "EDGESTAT_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() { c.kill() })
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := browserLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case c.base = <-found:
	case <-time.After(20 * time.Second):
		t.Fatalf("child not ready in 20s:\n%s", c.log())
	}
	return c
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
		<-c.done
	}
}

// stop ends the child as a user would, with SIGTERM, and waits for it.
func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	waited := make(chan error, 1)
	go func() { waited <- c.cmd.Wait() }()
	select {
	case err := <-waited:
		<-c.done
		if err != nil {
			t.Fatalf("child: %v\n%s", err, c.log())
		}
	case <-time.After(30 * time.Second):
		c.kill()
		t.Fatalf("child did not stop in 30s:\n%s", c.log())
	}
}

func getStatus(t *testing.T, base string) (stored, pending int) {
	t.Helper()
	resp, err := http.Get(base + "/traffic/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Store struct {
			Stored  int `json:"stored"`
			Pending int `json:"pending"`
		} `json:"store"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Store.Stored, st.Store.Pending
}

var storedRe = regexp.MustCompile(`msg="traffic: batch committed" reports=\d+ stored=(\d+)`)

// TestKillDuringIngest SIGKILLs the program while it stores reports as
// fast as they come, restarts it, and finds the database intact and every
// report of every batch the log said was committed. Report k of the feed
// has time base+k ms, total_flows k, bytes k and one packet, so the stored
// set is exactly the first P reports when its count is P, its largest
// total_flows P-1 and its bytes P(P-1)/2.
func TestKillDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the program three times")
	}
	dir := filepath.Join(t.TempDir(), "data")
	pcap := filepath.Join("testdata", "pcaps", "smtp.pcap")
	args := []string{"--data", dir, "--pcap", pcap, "--pcap-speed", "0", "--flush-rows", "20000", "--flush-interval", "100ms", "--log-level", "debug"}
	c := startChild(t, args...)
	// The replay's own reports are stored first; what is stored after is ours.
	var base0 int
	deadline := time.Now().Add(20 * time.Second)
	for {
		stored, pending := getStatus(t, c.base)
		if pending == 0 && stored > 0 {
			base0 = stored
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replay's reports were not stored:\n%s", c.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now().Add(-2*time.Hour).UnixMilli() / 60000 * 60000
	const perPost = 5000
	var sent atomic.Int64
	feedErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		var b strings.Builder
		for k := 0; ; k += perPost {
			b.Reset()
			for i := k; i < k+perPost; i++ {
				fmt.Fprintf(&b, "[99,77,\"feed\",%d,178,\"99.178\",%d,1,%d,0,1]\n", start+int64(i), i, i)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/traffic/reports", strings.NewReader(b.String()))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				feedErr <- nil // the kill
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				feedErr <- fmt.Errorf("post: %s", resp.Status)
				return
			}
			sent.Store(int64(k + perPost))
		}
	}()
	// Kill once a good number of batches is committed, mid-feed.
	deadline = time.Now().Add(60 * time.Second)
	for {
		m := storedRe.FindAllStringSubmatch(c.log(), -1)
		if len(m) >= 10 {
			n, _ := strconv.Atoi(m[len(m)-1][1])
			if n-base0 >= 400_000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("too few batches committed in 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.kill()
	cancel()
	if err := <-feedErr; err != nil {
		t.Fatal(err)
	}
	m := storedRe.FindAllStringSubmatch(c.log(), -1)
	lastStored, _ := strconv.Atoi(m[len(m)-1][1])
	committed := lastStored - base0

	c = startChild(t, args...)
	resp, err := http.Get(c.base + "/traffic/data?probe=77&period=hour")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	d := json.NewDecoder(resp.Body)
	d.UseNumber()
	if err := d.Decode(&rows); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var count, maxK, sum int64
	for _, r := range rows {
		tf, _ := r[6].(json.Number).Int64()
		bytes, _ := r[8].(json.Number).Int64()
		packets, _ := r[10].(json.Number).Int64()
		count, maxK, sum = count+packets, max(maxK, tf), sum+bytes
	}
	t.Logf("sent at least %d reports, %d committed before the kill, %d found after it", sent.Load(), committed, count)
	if count < int64(committed) || count > sent.Load()+perPost {
		t.Fatalf("found %d reports, committed %d, sent %d", count, committed, sent.Load())
	}
	if maxK != count-1 || sum != count*(count-1)/2 {
		t.Fatalf("the %d reports found are not the first %d sent: largest %d, sum %d", count, count, maxK, sum)
	}
	c.stop(t)

	st, err := store.Open(context.Background(), dir, schema, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ok string
	if err := st.DB().QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
}

// TestSocketIOMatchesData runs the program with its emulator, connects
// the real socket.io client (npm socket.io-client v4, websocket
// transport), and finds every stats_raw array it received among the rows
// of /traffic/data.
func TestSocketIOMatchesData(t *testing.T) {
	node := needTool(t, "node", "nodejs")
	dir := filepath.Join("server", "traffic", "testdata", "socketio")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client")); err != nil {
		msg := "socket.io-client not installed: run npm ci --prefix " + dir
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	addr, _, _, _ := startApp(t, []string{"--stats-period", "1s", "--emulator-rate", "300"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const count = 60
	cmd := exec.CommandContext(ctx, node, "client.mjs", "http://"+addr, strconv.Itoa(count))
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got struct {
		Raw [][]any          `json:"stats_raw"`
		Obj []map[string]any `json:"stats"`
	}
	if lines[0] != "connected" || json.Unmarshal([]byte(lines[len(lines)-1]), &got) != nil || len(got.Raw) < count {
		t.Fatalf("client printed %q", out)
	}
	// Everything the client got is in /traffic/data, of its format.
	stored := map[float64]map[string]bool{}
	for _, r := range got.Raw {
		format := r[0].(float64)
		if stored[format] == nil {
			resp, err := http.Get(fmt.Sprintf("http://%s/traffic/data?format=%v&period=minute", addr, format))
			if err != nil {
				t.Fatal(err)
			}
			var rows []json.RawMessage
			err = json.NewDecoder(resp.Body).Decode(&rows)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			stored[format] = map[string]bool{}
			for _, row := range rows {
				stored[format][canonical(t, row)] = true
			}
		}
		b, _ := json.Marshal(r)
		if !stored[format][canonical(t, b)] {
			t.Fatalf("stats_raw %s is not in /traffic/data?format=%v", b, format)
		}
	}
	// The object form carries the same reports.
	for i, o := range got.Obj {
		if o["format"] == float64(99) && (o["time"] != got.Raw[i][3] || o["path"] != got.Raw[i][5] || o["bytecount"] != got.Raw[i][8]) {
			t.Fatalf("stats %v does not match stats_raw %v", o, got.Raw[i])
		}
	}
	t.Logf("%d stats_raw reports received, each found in /traffic/data", len(got.Raw))
}

// canonical re-encodes a JSON value, so that equal values compare equal
// whoever printed them.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
