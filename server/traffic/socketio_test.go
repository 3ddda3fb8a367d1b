package traffic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"edgestat/probe"
)

const sioPath = "/socket.io/?EIO=4&transport=websocket"

func sioRaw(r probe.Row) string    { return `42["stats_raw",` + string(r.AppendJSON(nil)) + `]` }
func sioObject(r probe.Row) string { return `42["stats",` + string(AppendObject(nil, r)) + `]` }

// sioOpen reads and checks the Engine.IO open packet, returning the sid.
func sioOpen(t *testing.T, c *hubWSClient, pingInterval, pingTimeout, maxPayload int) string {
	t.Helper()
	msg := c.text()
	if !strings.HasPrefix(msg, "0{") {
		t.Fatalf("open packet %q", msg)
	}
	var open struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}
	dec := json.NewDecoder(strings.NewReader(msg[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&open); err != nil {
		t.Fatalf("open packet %q: %v", msg, err)
	}
	if len(open.SID) != 20 || open.Upgrades == nil || len(open.Upgrades) != 0 ||
		open.PingInterval != pingInterval || open.PingTimeout != pingTimeout || open.MaxPayload != maxPayload {
		t.Fatalf("open packet %s", msg)
	}
	return open.SID
}

// sioJoin connects to namespace "/" and returns the socket id.
func sioJoin(t *testing.T, c *hubWSClient, packet string) string {
	t.Helper()
	c.sendText(packet)
	msg := c.text()
	var v struct {
		SID string `json:"sid"`
	}
	if !strings.HasPrefix(msg, "40{") || json.Unmarshal([]byte(msg[2:]), &v) != nil || len(v.SID) != 20 {
		t.Fatalf("connect reply %q", msg)
	}
	return v.SID
}

func TestSocketIOSession(t *testing.T) {
	e := startHub(t, HubConfig{}, hubOptions{})
	c := hubDial(t, e.ws+sioPath)
	sid := sioOpen(t, c, 25000, 20000, 64<<10)
	e.waitClients(t, 0, 1)

	// Not in a namespace yet: no events.
	e.hub.Publish(hubNumbered(0))
	socketID := sioJoin(t, c, "40")
	if socketID == sid {
		t.Error("the socket id is the Engine.IO sid")
	}
	var want []string
	for _, r := range hubSampleRows() {
		e.hub.Publish(r)
		if hubRowFormat(r) != probe.FormatHosts {
			want = append(want, sioRaw(r), sioObject(r))
		}
	}
	for i, w := range want {
		if got := c.text(); got != w {
			t.Fatalf("message %d:\n got %s\nwant %s", i, got, w)
		}
	}

	// Another namespace is refused; "/" goes on.
	c.sendText("40/admin,")
	if got := c.text(); got != `44/admin,{"message":"Invalid namespace"}` {
		t.Fatalf("other namespace: %s", got)
	}
	c.sendText(`40/admin,{"token":"x"}`)
	if got := c.text(); got != `44/admin,{"message":"Invalid namespace"}` {
		t.Fatalf("other namespace with auth: %s", got)
	}

	// Client events and malformed packets are ignored.
	for _, p := range []string{`42["hello",1]`, `421["ack me"]`, "", "x", "4", "49", `40{bad`, `41{}`, "2", "2probe", "5", "6", "0"} {
		c.sendText(p)
	}
	if err := c.send(ws.OpBinary, []byte{4, 1, 2}); err != nil {
		t.Fatal(err)
	}
	r := hubNumbered(1)
	e.hub.Publish(r)
	if got := c.text(); got != sioRaw(r) {
		t.Fatalf("after ignored packets: %s", got)
	}
	c.text()

	// Leaving "/" stops the events and keeps the connection. Packets are
	// handled in order: the answer to 40/x proves 41 was read.
	c.sendText("41")
	c.sendText("40/x,")
	if got := c.text(); !strings.HasPrefix(got, "44/x,") {
		t.Fatalf("got %s", got)
	}
	e.hub.Publish(hubNumbered(2))
	// An auth payload is accepted and ignored; the reply comes before any
	// event, so the row published while away was never sent.
	if id := sioJoin(t, c, `40{"token":"secret"}`); id != socketID {
		t.Errorf("socket id changed: %s, then %s", socketID, id)
	}
	r = hubNumbered(3)
	e.hub.Publish(r)
	if got := c.text(); got != sioRaw(r) {
		t.Fatalf("after rejoining: %s", got)
	}
	c.text()
	if l, s := e.hub.Clients(); l != 0 || s != 1 {
		t.Errorf("clients %d, %d", l, s)
	}

	// An Engine.IO close ends the session.
	c.sendText("1")
	c.expectClose(ws.StatusNormalClosure)
	e.waitClients(t, 0, 0)
}

func TestSocketIOFilters(t *testing.T) {
	e := startHub(t, HubConfig{}, hubOptions{})
	c := hubDial(t, e.ws+sioPath+"&events=stats&format=2")
	sioOpen(t, c, 25000, 20000, 64<<10)
	sioJoin(t, c, "40")
	var want []string
	for _, r := range hubPublishable() {
		e.hub.Publish(r)
		if hubRowFormat(r) == probe.FormatTLS {
			want = append(want, sioObject(r))
		}
	}
	e.hub.Close()
	for _, w := range want {
		if got := c.text(); got != w {
			t.Fatalf("got %s\nwant %s", got, w)
		}
	}
	c.expectClose(ws.StatusGoingAway)
}

func TestSocketIORefusals(t *testing.T) {
	e := startHub(t, HubConfig{}, hubOptions{})
	for _, tc := range []struct{ query, want string }{
		{"?EIO=3&transport=websocket", `{"code":5,"message":"Unsupported protocol version"}`},
		{"?transport=websocket", `{"code":5,"message":"Unsupported protocol version"}`},
		{"?EIO=4&transport=polling", `{"code":0,"message":"Transport unknown"}`},
		{"?EIO=4", `{"code":0,"message":"Transport unknown"}`},
		{"?EIO=4&transport=websocket&sid=abc", `{"code":1,"message":"Session ID unknown"}`},
	} {
		status, body := hubDialStatus(t, e.ws+"/socket.io/"+tc.query)
		if status != 400 || body != tc.want {
			t.Errorf("%s: %d %s, want 400 %s", tc.query, status, body, tc.want)
		}
	}
	status, body := hubDialStatus(t, e.ws+sioPath+"&format=4")
	if status != 400 || !strings.Contains(body, `"code":1102`) || !strings.Contains(body, "format") {
		t.Errorf("bad format: %d %s", status, body)
	}

	// Long-polling, as a client without transports: ["websocket"] tries.
	for _, tc := range []struct{ query, want string }{
		{"?EIO=4&transport=polling", `{"code":0,"message":"Transport unknown"}`},
		{"?EIO=4&transport=websocket", `{"code":3,"message":"Bad request"}`},
	} {
		resp, err := e.httpGet("/socket.io/" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		if resp.status != 400 || resp.body != tc.want {
			t.Errorf("plain GET %s: %d %s, want %s", tc.query, resp.status, resp.body, tc.want)
		}
	}
}

type hubHTTPAnswer struct {
	status int
	body   string
}

func (e *hubEnv) httpGet(path string) (hubHTTPAnswer, error) {
	resp, err := http.Get(e.http + path)
	if err != nil {
		return hubHTTPAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return hubHTTPAnswer{resp.StatusCode, strings.TrimSpace(string(body))}, err
}

func TestSocketIOKeepAlive(t *testing.T) {
	// A ping every 25 ms; a client is closed 2 s after one it did not
	// answer. The answering client must never come near that, even on a
	// loaded machine (250 ms failed 1 run in 10).
	e := startHub(t, HubConfig{PingInterval: 25 * time.Millisecond, PingTimeout: 2 * time.Second}, hubOptions{})
	good := hubDial(t, e.ws+sioPath)
	sioOpen(t, good, 25, 2000, 64<<10)
	sioJoin(t, good, "40")
	silent := hubDial(t, e.ws+sioPath)
	silent.pongs = false
	sioOpen(t, silent, 25, 2000, 64<<10)
	sioJoin(t, silent, "40")
	msgs := good.pump(t)

	// The silent client gets Engine.IO pings, never answers, and is closed.
	pings := 0
	for {
		op, p, err := silent.next()
		if err != nil {
			t.Fatal(err)
		}
		if op == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(p); code != ws.StatusGoingAway {
				t.Fatalf("close %s", hubCloseString(p))
			}
			break
		}
		if string(p) != "2" {
			t.Fatalf("silent client got %q", p)
		}
		pings++
	}
	if pings == 0 {
		t.Error("no ping before the close")
	}
	e.waitClients(t, 0, 1)

	time.Sleep(700 * time.Millisecond)
	r := hubNumbered(5)
	e.hub.Publish(r)
	for _, want := range []string{sioRaw(r), sioObject(r)} {
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

func TestSocketIOOversizeMessage(t *testing.T) {
	e := startHub(t, HubConfig{MaxMessage: 100}, hubOptions{})
	c := hubDial(t, e.ws+sioPath)
	sioOpen(t, c, 25000, 20000, 100)
	c.sendText(`42["x","` + strings.Repeat("y", 100) + `"]`)
	c.expectClose(ws.StatusMessageTooBig)
}

// TestSocketIOClient runs the real socket.io client (testdata/socketio,
// socket.io-client pinned in its package.json) against the hub.
func TestSocketIOClient(t *testing.T) {
	node := hubNeedNode(t)
	e := startHub(t, HubConfig{}, hubOptions{})
	rows := hubPublishable()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", e.http, strconv.Itoa(len(rows)))
	cmd.Dir = filepath.Join("testdata", "socketio")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || line != "connected\n" {
		_ = cmd.Wait()
		t.Fatalf("client: %q %v; stderr: %s", line, err, stderr.String())
	}
	for _, r := range rows {
		e.hub.Publish(r)
	}
	line, err = out.ReadString('\n')
	if err != nil {
		_ = cmd.Wait()
		t.Fatalf("client output: %v; stderr: %s", err, stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v; stderr: %s", err, stderr.String())
	}
	var got struct {
		Raw []any `json:"stats_raw"`
		Obj []any `json:"stats"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("client output %q: %v", line, err)
	}
	if len(got.Raw) != len(rows) || len(got.Obj) != len(rows) {
		t.Fatalf("got %d stats_raw and %d stats, want %d", len(got.Raw), len(got.Obj), len(rows))
	}
	// Compared as decoded JSON: a JS number is a float64, as here.
	for i, r := range rows {
		var raw, obj any
		if err := json.Unmarshal(r.AppendJSON(nil), &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(AppendObject(nil, r), &obj); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Raw[i], raw) {
			t.Errorf("stats_raw %d:\n got %v\nwant %v", i, got.Raw[i], raw)
		}
		if !reflect.DeepEqual(got.Obj[i], obj) {
			t.Errorf("stats %d:\n got %v\nwant %v", i, got.Obj[i], obj)
		}
	}
}

// hubNeedNode returns node's path, skipping the test loudly when node or
// the client's node_modules is missing (failing instead under CI=true).
func hubNeedNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	msg := ""
	switch {
	case err != nil:
		msg = "node not installed (Debian package nodejs): this test runs the real socket.io client"
	default:
		if _, err := os.Stat(filepath.Join("testdata", "socketio", "node_modules", "socket.io-client", "package.json")); err != nil {
			msg = "socket.io-client not installed: run `npm ci` in server/traffic/testdata/socketio"
		}
	}
	if msg == "" {
		return node
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

func TestParseSIOPacket(t *testing.T) {
	type want struct {
		eio         byte
		typ         int8
		attachments int
		nsp         string
		id          int64
		payload     string
	}
	for _, tc := range []struct {
		in   string
		want want // eio 0 means an error
	}{
		{"3", want{eio: '3', typ: -1, id: -1}},
		{"2probe", want{eio: '2', typ: -1, id: -1}},
		{"1", want{eio: '1', typ: -1, id: -1}},
		{"40", want{'4', 0, 0, "/", -1, ""}},
		{`40{"token":"x"}`, want{'4', 0, 0, "/", -1, `{"token":"x"}`}},
		{"40/admin,", want{'4', 0, 0, "/admin", -1, ""}},
		{"40/admin", want{'4', 0, 0, "/admin", -1, ""}},
		{`40/admin,{"a":1}`, want{'4', 0, 0, "/admin", -1, `{"a":1}`}},
		{"41", want{'4', 1, 0, "/", -1, ""}},
		{"41/x,", want{'4', 1, 0, "/x", -1, ""}},
		{`42["stats_raw",[99]]`, want{'4', 2, 0, "/", -1, `["stats_raw",[99]]`}},
		{`4212["a"]`, want{'4', 2, 0, "/", 12, `["a"]`}},
		{`42/x,7["a"]`, want{'4', 2, 0, "/x", 7, `["a"]`}},
		{`42[1,2]`, want{'4', 2, 0, "/", -1, `[1,2]`}},
		{`43/x,1[]`, want{'4', 3, 0, "/x", 1, `[]`}},
		{`44{"message":"m"}`, want{'4', 4, 0, "/", -1, `{"message":"m"}`}},
		{`44"m"`, want{'4', 4, 0, "/", -1, `"m"`}},
		{`451-["a",{"_placeholder":true,"num":0}]`, want{'4', 5, 1, "/", -1, `["a",{"_placeholder":true,"num":0}]`}},
		{`462-/x,3[{"_placeholder":true,"num":0}]`, want{'4', 6, 2, "/x", 3, `[{"_placeholder":true,"num":0}]`}},
		{"", want{}},
		{"7", want{}},
		{"a", want{}},
		{"4", want{}},
		{"47", want{}},
		{"4x", want{}},
		{`40[]`, want{}},
		{`40{"a":`, want{}},
		{`41{}`, want{}},
		{`42{}`, want{}},
		{`42[]`, want{}},
		{`42[{}]`, want{}},
		{`42"a"`, want{}},
		{`43{}`, want{}},
		{`44[]`, want{}},
		{`45["a"]`, want{}},
		{`45-["a"]`, want{}},
		{`451["a"]`, want{}},
		{`421234567890123456["a"]`, want{}},
		{`42 1["a"]`, want{}},
	} {
		p, err := parseSIOPacket([]byte(tc.in))
		if tc.want.eio == 0 {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want an error", tc.in, p)
			} else if !errors.Is(err, errSIOPacket) {
				t.Errorf("%q: error %v does not wrap errSIOPacket", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		got := want{p.EIO, p.Type, p.Attachments, string(p.Nsp), p.ID, string(p.Payload)}
		if tc.want.typ < 0 {
			got.nsp = ""
		}
		if got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseSIOPacket checks that the parser never panics, that what it
// returns is well formed, and that encoding a parsed packet and parsing it
// again gives the same packet.
func FuzzParseSIOPacket(f *testing.F) {
	for _, s := range []string{"40", `40{"token":"x"}`, "40/admin,", "41", `42["stats_raw",[99,1]]`,
		`4212["a"]`, `42/x,7["a"]`, `451-["a",{"_placeholder":true,"num":0}]`, `44"m"`, "3", "2probe", "1", "6"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSIOPacket(b)
		if err != nil {
			if !errors.Is(err, errSIOPacket) {
				t.Fatalf("error %v does not wrap errSIOPacket", err)
			}
			return
		}
		if p.EIO < eioOpen || p.EIO > eioNoop {
			t.Fatalf("Engine.IO type %q", p.EIO)
		}
		if p.EIO != eioMessage {
			if p.Type != -1 || !bytes.Equal(p.Data, b[1:]) {
				t.Fatalf("%q: %+v", b, p)
			}
		} else {
			if p.Type < sioConnect || p.Type > sioBinaryAck || p.ID < -1 || p.Attachments < 0 ||
				len(p.Nsp) == 0 || p.Nsp[0] != '/' || bytes.IndexByte(p.Nsp, ',') >= 0 {
				t.Fatalf("%q: %+v", b, p)
			}
			if len(p.Payload) > 0 && !json.Valid(p.Payload) {
				t.Fatalf("%q: payload %q is not JSON", b, p.Payload)
			}
		}
		enc := appendSIOPacket(nil, p)
		q, err := parseSIOPacket(enc)
		if err != nil {
			t.Fatalf("%q re-encoded as %q: %v", b, enc, err)
		}
		if q.EIO != p.EIO || q.Type != p.Type || q.Attachments != p.Attachments || q.ID != p.ID ||
			!bytes.Equal(q.Nsp, p.Nsp) || !bytes.Equal(q.Payload, p.Payload) ||
			(p.EIO != eioMessage && !bytes.Equal(q.Data, p.Data)) {
			t.Fatalf("%q re-encoded as %q parses as %+v, was %+v", b, enc, q, p)
		}
	})
}
