// Command monclient is the /monitor client of bench/monitor.sh: it opens one
// WebSocket to edgestat's /monitor, asks it with ONE ssh.start_monitor to
// watch every SSH server of bench/sshhosts, checks that the answer's error
// is null, then counts the notifications it gets, per event and per host,
// so that a run shows whether every host was really read every interval.
//
// Output, one JSON object a line on stdout:
//
//	{"event":"started",...}  the answer came, with error null (else the
//	                         line carries the error and monclient exits 1)
//	{"event":"mark",...}     on SIGUSR1: counts since the previous mark
//	{"event":"summary",...}  at the end (-duration, SIGINT or SIGTERM)
//
// A mark or summary gives the notifications per second by event, and the
// memory events per host per second (min, mean, max over the hosts, and
// how many hosts had none): one memory event per host per tick, so ~1 at
// a 1 s interval. mem_max_gap_ms is the longest time between two memory
// events of one host. The first few disconnected events are told on stderr.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "monclient:", err)
		os.Exit(1)
	}
}

// target is one params entry of ssh.start_monitor.
type target struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	User   string `json:"user"`
	Passwd string `json:"passwd"`
}

func run() error {
	rawURL := flag.String("url", "ws://127.0.0.1:8000/monitor", "edgestat's /monitor (loopback only)")
	portsFile := flag.String("ports-file", "-", "the SSH ports, one a line, as bench/sshhosts prints them (- = stdin)")
	host := flag.String("host", "127.0.0.1", "host of every target")
	user := flag.String("user", "mon", "user of every target")
	password := flag.String("password", "secret", "password of every target")
	timeout := flag.Duration("timeout", 2*time.Minute, "wait this long for the answer to ssh.start_monitor")
	duration := flag.Duration("duration", 0, "run this long after the answer, then print the summary (0 = until SIGINT/SIGTERM)")
	flag.Parse()

	u, err := url.Parse(*rawURL)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %s: only loopback hosts are allowed", *rawURL)
	}
	ports, err := readPorts(*portsFile)
	if err != nil {
		return err
	}
	targets := make([]target, len(ports))
	c := &counter{hosts: map[string]*hostStat{}, events: map[string]int64{}}
	for i, p := range ports {
		targets[i] = target{Host: *host, Port: p, User: *user, Passwd: *password}
		c.hosts[*user+"@"+net.JoinHostPort(*host, strconv.Itoa(p))] = &hostStat{}
	}
	c.start = time.Now()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	marks := make(chan os.Signal, 1)
	signal.Notify(marks, syscall.SIGUSR1)

	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	nc, br, _, err := ws.Dial(dctx, *rawURL)
	cancel()
	if err != nil {
		return err
	}
	defer nc.Close()
	var rd io.Reader = nc
	if br != nil { // bytes read past the handshake come first
		rd = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), nc)
	}
	conn := struct {
		io.Reader
		io.Writer
	}{rd, nc}

	req, _ := json.Marshal(map[string]any{"id": "bench", "method": "ssh.start_monitor", "params": targets})
	t0 := time.Now()
	if err := wsutil.WriteClientText(nc, req); err != nil {
		return err
	}
	answer := make(chan json.RawMessage, 1) // the answer's error
	readErr := make(chan error, 1)
	go func() { readErr <- c.read(conn, answer) }()

	out := json.NewEncoder(os.Stdout)
	select {
	case e := <-answer:
		started := map[string]any{"event": "started", "targets": len(targets),
			"answer_seconds": round(time.Since(t0).Seconds()), "error": e}
		_ = out.Encode(started)
		if string(e) != "null" {
			return errors.New("ssh.start_monitor failed")
		}
	case err := <-readErr:
		return fmt.Errorf("no answer to ssh.start_monitor: %w", err)
	case <-time.After(*timeout):
		return fmt.Errorf("no answer to ssh.start_monitor in %v", *timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mark() // the first window starts at the answer

	var end <-chan time.Time
	if *duration > 0 {
		end = time.After(*duration)
	}
	var closed error
wait:
	for {
		select {
		case <-marks:
			_ = out.Encode(c.mark())
		case closed = <-readErr:
			break wait
		case <-ctx.Done():
			break wait
		case <-end:
			break wait
		}
	}
	s := c.mark()
	s["event"] = "summary"
	if closed != nil {
		s["closed"] = closed.Error() // edgestat ended the connection
	}
	_ = out.Encode(s)
	if closed != nil {
		return errors.New("the connection ended: " + closed.Error())
	}
	return nil
}

// readPorts reads one port a line from name ("-": stdin).
func readPorts(name string) ([]int, error) {
	f := os.Stdin
	if name != "-" {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	var ports []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p, err := strconv.Atoi(line)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%s: %q is not a port", name, line)
		}
		ports = append(ports, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("%s: no port", name)
	}
	return ports, nil
}

// counter holds the counts of the current window.
type counter struct {
	mu      sync.Mutex
	start   time.Time            // of the window
	hosts   map[string]*hostStat // by ssh_key, one per target
	events  map[string]int64     // notifications by event
	total   int64
	unknown int64 // notifications for a host not asked for, or unreadable
	told    int   // disconnected events told on stderr
}

type hostStat struct {
	mem          int64         // memory events in the window
	last         time.Time     // of the last memory event (kept across windows)
	maxGap       time.Duration // between two memory events, the later one in the window
	disconnected int64
}

// notice is the part of a message that monclient reads.
type notice struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Error  json.RawMessage `json:"error"`
	Params []struct {
		Event   string `json:"event"`
		Message struct {
			SSHKey string          `json:"ssh_key"`
			Error  json.RawMessage `json:"error"`
		} `json:"message"`
	} `json:"params"`
}

// read counts notifications until the connection ends; the answer to the
// request (the one message with an id) goes to answer. Pings are answered
// by wsutil (edgestat drops a client silent for 75 s).
func (c *counter) read(conn io.ReadWriter, answer chan<- json.RawMessage) error {
	for {
		msg, _, err := wsutil.ReadServerData(conn)
		if err != nil {
			return err
		}
		var n notice
		if err := json.Unmarshal(msg, &n); err != nil {
			c.count("", "(not json)", nil)
			continue
		}
		if n.Method == "" && string(n.ID) != "null" && len(n.ID) > 0 {
			if n.Error == nil {
				n.Error = json.RawMessage("null")
			}
			answer <- n.Error
			continue
		}
		for _, p := range n.Params {
			c.count(p.Message.SSHKey, p.Event, p.Message.Error)
		}
	}
}

func (c *counter) count(key, event string, errText json.RawMessage) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	c.events[event]++
	h := c.hosts[key]
	if h == nil {
		c.unknown++
		return
	}
	switch event {
	case "memory":
		h.mem++
		if !h.last.IsZero() {
			h.maxGap = max(h.maxGap, now.Sub(h.last))
		}
		h.last = now
	case "disconnected":
		h.disconnected++
		if c.told < 5 {
			c.told++
			fmt.Fprintf(os.Stderr, "monclient: disconnected %s: %s\n", key, errText)
		}
	}
}

// mark returns the counts of the window that ends now and starts the next.
func (c *counter) mark() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	secs := time.Since(c.start).Seconds()
	perS := map[string]float64{}
	for e, n := range c.events {
		perS[e] = round(float64(n) / secs)
	}
	var sum, minM, maxM int64
	var without, disc int64
	var gap time.Duration
	first := true
	for _, h := range c.hosts {
		sum += h.mem
		if first || h.mem < minM {
			minM = h.mem
		}
		maxM = max(maxM, h.mem)
		first = false
		if h.mem == 0 {
			without++
		}
		disc += h.disconnected
		gap = max(gap, h.maxGap)
		h.mem, h.maxGap, h.disconnected = 0, 0, 0
	}
	n := float64(len(c.hosts))
	s := map[string]any{
		"event": "mark", "window_seconds": round(secs), "hosts": len(c.hosts),
		"notifications": c.total, "notifications_per_s": round(float64(c.total) / secs),
		"mem_per_host_min":     round(float64(minM) / secs),
		"mem_per_host_mean":    round(float64(sum) / n / secs),
		"mem_per_host_max":     round(float64(maxM) / secs),
		"hosts_without_memory": without, "mem_max_gap_ms": gap.Milliseconds(),
		"disconnected": disc, "unknown_host": c.unknown, "events_per_s": perS,
	}
	c.start = time.Now()
	c.events = map[string]int64{}
	c.total, c.unknown = 0, 0
	return s
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
