package sshmon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// monitorEnv is /monitor served on loopback over a real Pool.
type monitorEnv struct {
	url  string
	pool *Pool
	m    *Monitor
	stop func()
}

func newMonitorEnv(t *testing.T) *monitorEnv {
	t.Helper()
	// The in-process servers answer at once: short timeouts keep the
	// fault tests quick.
	return newMonitorEnvWith(t, PoolConfig{DialTimeout: time.Second, HandshakeTimeout: time.Second})
}

// newMonitorEnvWith is newMonitorEnv with the pool's timeouts of pc.
func newMonitorEnvWith(t *testing.T, pc PoolConfig) *monitorEnv {
	t.Helper()
	pc.KnownHosts = newKnownHosts(t)
	pool := NewPool(pc)
	m := NewMonitor(MonitorConfig{Interval: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Pool: pool})
	rpc := NewRPC(m, RPCConfig{})
	srv := httptest.NewServer(rpc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rpc.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			srv.Close()
		}
	}
	t.Cleanup(stop)
	return &monitorEnv{url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/monitor", pool: pool, m: m, stop: stop}
}

type wsClient struct {
	t    *testing.T
	conn net.Conn
	seen map[string]json.RawMessage // the last message of each event read
}

func (e *monitorEnv) dial(t *testing.T) *wsClient {
	t.Helper()
	c, _, _, err := ws.Dial(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t, c, map[string]json.RawMessage{}}
}

func (c *wsClient) send(v string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(v)); err != nil {
		c.t.Fatal(err)
	}
}

type rpcMsg struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result"`
	Error  *string         `json:"error"`
	Method string          `json:"method"`
	Params []struct {
		Event   string          `json:"event"`
		Message json.RawMessage `json:"message"`
	} `json:"params"`
}

func (c *wsClient) read() rpcMsg {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := wsutil.ReadServerText(c.conn)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m rpcMsg
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("%s: %v", b, err)
	}
	for _, p := range m.Params {
		c.seen[p.Event] = p.Message
	}
	return m
}

// reply reads until the answer to id, skipping notifications.
func (c *wsClient) reply(id string) rpcMsg {
	c.t.Helper()
	for {
		m := c.read()
		if m.Method == "" && string(m.ID) == id {
			return m
		}
	}
}

// events reads notifications until every name wanted has come, and
// returns the last message of each event.
func (c *wsClient) events(want ...string) map[string]json.RawMessage {
	c.t.Helper()
	clear(c.seen)
	return c.more(want...)
}

// more is events without forgetting what was read already.
func (c *wsClient) more(want ...string) map[string]json.RawMessage {
	c.t.Helper()
	got := c.seen
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, w := range want {
			if _, ok := got[w]; !ok {
				all = false
			}
		}
		if all {
			return got
		}
		if time.Now().After(deadline) {
			var have []string
			for k := range got {
				have = append(have, k)
			}
			c.t.Fatalf("events %v did not all come in 10 s; got %v", want, have)
		}
		c.read()
	}
}

func start(host string, port int, pw string) string {
	return fmt.Sprintf(`{"id":"%s","method":"ssh.start_monitor","params":[{"port":%d,"host":"%s","user":"mon","passwd":"%s"}]}`, "s1", port, host, pw)
}

// TestMonitorEndToEnd monitors in-process SSH servers serving fixture
// trees (x86, ARM) through /monitor and checks every event against what
// the collector makes of the same files.
func TestMonitorEndToEnd(t *testing.T) {
	for _, tree := range []string{"x86-server", "arm-zte-router"} {
		t.Run(tree, func(t *testing.T) {
			root, _ := filepath.Abs(filepath.Join("testdata", tree))
			srv := startSSHServer(t, "127.0.0.1:0", root, newHostKey(t), nil)
			e := newMonitorEnv(t)
			c := e.dial(t)
			c.send(start("127.0.0.1", srv.Addr().Port, "secret"))
			if m := c.reply(`"s1"`); m.Error != nil || m.Result != nil {
				t.Fatalf("start: %+v", m)
			}
			got := c.more("connected", EventCPUInfo, EventCPUPerf, EventMemory, EventUptime, EventLoadavg, EventNetDev, EventNetStat, EventTemp, EventDisk, EventProcess)
			// The same files through the collector, twice (rates need two).
			key := fmt.Sprintf("mon@127.0.0.1:%d", srv.Addr().Port)
			col := NewCollector(key)
			snap := snapshotOf(t, root, true, "")
			now := time.Now()
			col.Collect(snap, now)
			want, _ := col.Collect(snap, now.Add(time.Second))
			first, _ := NewCollector(key).Collect(snap, now)
			for _, ev := range append(first, want...) {
				b, _ := json.Marshal(ev.Message)
				var g, w any
				json.Unmarshal(got[ev.Name], &g)
				json.Unmarshal(b, &w)
				gb, _ := json.Marshal(g)
				wb, _ := json.Marshal(w)
				if ev.Name == EventDisk || ev.Name == EventProcess || ev.Name == EventCPUPerf || ev.Name == EventNetDev {
					// Rates over a static tree are 0 both ways; compare shapes and totals.
					if len(gb) == 0 || !strings.Contains(string(gb), `"ssh_key":"`+key+`"`) {
						t.Errorf("%s: %s", ev.Name, gb)
					}
					continue
				}
				if string(gb) != string(wb) {
					t.Errorf("%s:\n got %s\nwant %s", ev.Name, gb, wb)
				}
			}
			if !strings.Contains(string(got["connected"]), key) {
				t.Errorf("connected: %s", got["connected"])
			}
			c.send(`{"id":7,"method":"ssh.stop_monitor","params":[{"port":` + fmt.Sprint(srv.Addr().Port) + `,"host":"127.0.0.1","user":"mon"}]}`)
			if m := c.reply("7"); m.Error != nil {
				t.Fatalf("stop: %s", *m.Error)
			}
		})
	}
}

// TestMonitorBadRequests: each bad request gets an error carrying its id
// when it can be read, and the connection stays open.
func TestMonitorBadRequests(t *testing.T) {
	e := newMonitorEnv(t)
	c := e.dial(t)
	for req, want := range map[string]string{
		`{"id":"a","method":"ssh.start_monitor","params":[{"host":"127.0.0.1","user":"mon"}]}`: "passwd",
		`{"id":"b","method":"ssh.reboot","params":[]}`:                                         "unknown method",
		`{"id":"c","params":[]}`:                  "missing method",
		`{"id":"d","method":"ssh.start_monitor"}`: "missing params",
		`{"id":"e","method":"ssh.start_monitor","params":[{"host":"127.0.0.1","user":"mon","port":70000,"passwd":"x"}]}`: "port",
		`{"id":"f","method":"ssh.stop_monitor","params":[{"host":"127.0.0.1","user":"mon","port":22}]}`:                  "not monitored",
		`{"id":"g","method":"ssh.start_monitor","params":{"host":"x"}}`:                                                  "params",
	} {
		c.send(req)
		var id struct{ ID json.RawMessage }
		json.Unmarshal([]byte(req), &id)
		m := c.reply(string(id.ID))
		if m.Error == nil || !strings.Contains(*m.Error, want) {
			t.Errorf("%s: error %v, want one about %q", req, m.Error, want)
		}
	}
	c.send(`{"id": "h", "method": `) // not JSON: the id cannot be read
	if m := c.reply("null"); m.Error == nil || !strings.Contains(*m.Error, "parse error") {
		t.Fatalf("garbage: %+v", m)
	}
	c.send(`{"id":"i","method":"ssh.stop_monitor","params":[{"host":"h","user":"u"}]}`)
	if m := c.reply(`"i"`); m.Error == nil {
		t.Fatal("the connection did not survive")
	}
}

// TestMonitorFaults: a wrong password and a changed host key are the
// call's errors; a server that stops is `disconnected` and comes back
// `connected` after a restart; 20 clients share one SSH connection; and
// nothing is left running at the end.
func TestMonitorFaults(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	root, _ := filepath.Abs(filepath.Join("testdata", "x86-server"))
	hostKey := newHostKey(t)
	srv := startSSHServer(t, "127.0.0.1:0", root, hostKey, nil)
	addr, port := srv.Addr().String(), srv.Addr().Port
	e := newMonitorEnv(t)

	c := e.dial(t)
	c.send(start("127.0.0.1", port, "wrong"))
	if m := c.reply(`"s1"`); m.Error == nil || !strings.Contains(*m.Error, "unable to authenticate") || strings.Contains(*m.Error, "wrong") {
		t.Fatalf("wrong password: %+v", m.Error)
	}

	// 20 clients, one connection.
	var cs []*wsClient
	for range 20 {
		cc := e.dial(t)
		cc.send(start("127.0.0.1", port, "secret"))
		if m := cc.reply(`"s1"`); m.Error != nil {
			t.Fatalf("start: %s", *m.Error)
		}
		cs = append(cs, cc)
	}
	for _, cc := range cs {
		cc.events(EventMemory)
	}
	if srv.conns.Load() != 2 { // the wrong password's attempt and the shared one
		t.Fatalf("%d SSH connections for 20 clients", srv.conns.Load()-1)
	}
	// A 21st client with a wrong password does not get the watched host.
	bad := e.dial(t)
	bad.send(start("127.0.0.1", port, "not-the-password"))
	if m := bad.reply(`"s1"`); m.Error == nil || !strings.Contains(*m.Error, "unable to authenticate") {
		t.Fatalf("a wrong password for a watched host: %v", m.Error)
	}
	bad.conn.Close()

	// The server goes away and comes back on the same address and key.
	srv.Close()
	cs[0].events("disconnected")
	srv = startSSHServer(t, addr, root, hostKey, nil)
	cs[0].events("connected")
	got := cs[0].more("connected", EventMemory)
	if !strings.Contains(string(got["connected"]), fmt.Sprint(port)) {
		t.Fatalf("connected: %s", got["connected"])
	}
	for _, cc := range cs {
		cc.conn.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); len(e.m.Watching()) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watch outlived its last client")
		}
	}

	// A reinstalled host: another key on the same address is refused.
	srv.Close()
	other := startSSHServer(t, addr, root, newHostKey(t), nil)
	c2 := e.dial(t)
	c2.send(start("127.0.0.1", port, "secret"))
	if m := c2.reply(`"s1"`); m.Error == nil || !strings.Contains(*m.Error, "key changed") {
		t.Fatalf("changed host key: %v", m.Error)
	}
	c2.conn.Close()
	c.conn.Close()
	other.Close()
	e.stop()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, were %d\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
