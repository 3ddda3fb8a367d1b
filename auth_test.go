package main

// --auth-token and TLS against the whole program: every route the router
// knows and every WebSocket endpoint is walked without and with the token,
// so a route added later cannot be left open; https, wss and raw TLS share
// the one port; --tls=auto keeps its certificate.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/julienschmidt/httprouter"
)

type route struct{ method, path string }

// routesOf lists every route registered on r, read from httprouter's trees
// (it has no listing of its own; the fields are those of v1.3.0, and a
// change there fails this walk loudly rather than letting it pass empty).
func routesOf(t *testing.T, r *httprouter.Router) []route {
	t.Helper()
	trees := reflect.ValueOf(r).Elem().FieldByName("trees")
	if !trees.IsValid() || trees.Kind() != reflect.Map {
		t.Fatal("httprouter.Router has no trees map: update routesOf for this httprouter version")
	}
	var out []route
	var walk func(method, prefix string, n reflect.Value)
	walk = func(method, prefix string, n reflect.Value) {
		if n.IsNil() {
			return
		}
		n = n.Elem()
		p := prefix + n.FieldByName("path").String()
		if !n.FieldByName("handle").IsNil() {
			out = append(out, route{method, p})
		}
		kids := n.FieldByName("children")
		for i := 0; i < kids.Len(); i++ {
			walk(method, p, kids.Index(i))
		}
	}
	iter := trees.MapRange()
	for iter.Next() {
		walk(iter.Key().String(), "", iter.Value())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// concrete fills a route's parameters with harmless values.
func concrete(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "x1"
		}
	}
	return strings.Join(parts, "/")
}

func do(t *testing.T, c *http.Client, method, u string, hdr map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode
}

// wsDial upgrades to a WebSocket; the error carries the HTTP status when the
// upgrade is refused.
func wsDial(ctx context.Context, u string, hdr http.Header, tlsCfg *tls.Config) (net.Conn, error) {
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(hdr), TLSConfig: tlsCfg, Timeout: 5 * time.Second}
	c, br, _, err := d.Dial(ctx, u)
	if err != nil || br == nil {
		return c, err
	}
	// Frames the server sent with its 101 (the Welcome) wait in br.
	return &bufferedConn{Conn: c, r: br}, nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func TestEveryRouteNeedsTheToken(t *testing.T) {
	const token = "walk-Token-7c1f"
	a := launch(t, []string{"--auth-token", token}, nil)
	base := "http://" + a.addr
	routes := routesOf(t, a.srv.Router())
	if len(routes) < 20 {
		t.Fatalf("only %d routes found: %v", len(routes), routes)
	}
	open := map[string]bool{"/healthz": true}
	bearer := map[string]string{"Authorization": "Bearer " + token}
	for _, r := range routes {
		u := base + concrete(r.path)
		if open[r.path] {
			if code := do(t, noRedirect, r.method, u, nil); code == http.StatusUnauthorized {
				t.Errorf("%s %s is meant to be open, got 401", r.method, r.path)
			}
			continue
		}
		if code := do(t, noRedirect, r.method, u, nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d, want 401", r.method, r.path, code)
		}
		if code := do(t, noRedirect, r.method, u, bearer); code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusTooManyRequests {
			t.Errorf("%s %s with the token: %d", r.method, r.path, code)
		}
	}
	t.Logf("walked %d routes", len(routes))

	// What the router serves beside its routes: the UI's files (a browser
	// is sent to the login page) and unknown paths.
	for _, p := range []string{"/", "/app.js", "/lib/net.js", "/pages/live.js", "/style.css", "/no/such/path"} {
		if code := do(t, noRedirect, "GET", base+p, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", p, code)
		}
		if code := do(t, noRedirect, "GET", base+p, map[string]string{"Accept": "text/html"}); p == "/" && code != http.StatusSeeOther {
			t.Errorf("a browser's GET / without the token: %d, want 303 to the login page", code)
		}
		want := http.StatusOK
		if p == "/no/such/path" {
			want = http.StatusNotFound
		}
		if code := do(t, noRedirect, "GET", base+p, bearer); code != want {
			t.Errorf("GET %s with the token: %d, want %d", p, code, want)
		}
	}

	// Every WebSocket endpoint: refused without the token, upgraded with it
	// in the header or (for browsers) in the query.
	ctx := context.Background()
	for _, p := range []string{"/monitor", "/traffic/live", "/socket.io/?EIO=4&transport=websocket"} {
		wsu := "ws://" + a.addr + p
		if c, err := wsDial(ctx, wsu, nil, nil); err == nil {
			c.Close()
			t.Errorf("WebSocket %s upgraded without the token", p)
		} else if !strings.Contains(err.Error(), "401") {
			t.Errorf("WebSocket %s without the token: %v, want a 401", p, err)
		}
		c, err := wsDial(ctx, wsu, http.Header{"Authorization": {"Bearer " + token}}, nil)
		if err != nil {
			t.Errorf("WebSocket %s with the Bearer token: %v", p, err)
		} else {
			c.Close()
		}
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		c, err = wsDial(ctx, wsu+sep+"token="+url.QueryEscape(token), nil, nil)
		if err != nil {
			t.Errorf("WebSocket %s with ?token=: %v", p, err)
		} else {
			c.Close()
		}
	}

	// The Rt-Stat WebSocket takes anyone to its own auth command; a token
	// on the upgrade authorizes it at once.
	rt := func(u string) string {
		c, err := wsDial(ctx, u, http.Header{"Origin": {"https://elsewhere.example"}}, nil)
		if err != nil {
			t.Fatalf("Rt-Stat WebSocket %s: %v", u, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := wsutil.ReadServerText(c); err != nil { // Welcome
			t.Fatal(err)
		}
		_ = wsutil.WriteClientText(c, []byte("interval::0.5"))
		_ = wsutil.WriteClientText(c, []byte("start"))
		msg, err := wsutil.ReadServerText(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	if got := rt("ws://" + a.addr + "/"); got != "Error::Not authorized" {
		t.Errorf("Rt-Stat WebSocket without the token answered %q, want Not authorized", got)
	}
	if got := rt("ws://" + a.addr + "/?token=" + token); !strings.HasPrefix(got, "Push::") {
		t.Errorf("Rt-Stat WebSocket with ?token= answered %q, want a push", got)
	}
}

// The login page sets a cookie that opens the APIs and same-origin
// WebSockets, never cross-site ones; wrong tokens are rate-limited.
func TestLoginCookieAndLimits(t *testing.T) {
	const token = "cookie-Token-2b"
	a := launch(t, []string{"--auth-token", token}, nil)
	base := "http://" + a.addr
	if code := do(t, noRedirect, "GET", base+"/login", nil); code != http.StatusOK {
		t.Fatalf("GET /login: %d", code)
	}
	resp, err := noRedirect.PostForm(base+"/login", url.Values{"token": {token}, "next": {"/#/traffic"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "edgestat_session" {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/#/traffic" || cookie == nil {
		t.Fatalf("login: %d, Location %q, cookie %v", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || strings.Contains(cookie.Value, token) {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, and not the token itself", cookie)
	}
	withCookie := map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}
	if code := do(t, noRedirect, "GET", base+"/traffic/status", withCookie); code != http.StatusOK {
		t.Errorf("an API with the cookie: %d", code)
	}
	ctx := context.Background()
	hdr := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}, "Origin": {"http://" + a.addr}}
	if c, err := wsDial(ctx, "ws://"+a.addr+"/traffic/live", hdr, nil); err != nil {
		t.Errorf("same-origin WebSocket with the cookie: %v", err)
	} else {
		c.Close()
	}
	hdr.Set("Origin", "http://evil.example")
	if c, err := wsDial(ctx, "ws://"+a.addr+"/traffic/live", hdr, nil); err == nil {
		c.Close()
		t.Error("a cross-site WebSocket rode on the cookie")
	} else if !strings.Contains(err.Error(), "403") {
		t.Errorf("cross-site WebSocket: %v, want 403", err)
	}
	// A redirect after login never leaves the box.
	resp, err = noRedirect.PostForm(base+"/login", url.Values{"token": {token}, "next": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("login with next=//evil.example/ redirects to %q", loc)
	}

	// A stale cookie (the token changed) is sent to log in again, and is not
	// counted as a guess.
	for i := 0; i < 20; i++ {
		if code := do(t, noRedirect, "GET", base+"/traffic/status", map[string]string{"Cookie": cookie.Name + "=stale"}); code != http.StatusUnauthorized {
			t.Fatalf("a stale cookie: %d", code)
		}
	}
	if code := do(t, noRedirect, "GET", base+"/traffic/status", withCookie); code != http.StatusOK {
		t.Fatalf("after 20 stale cookies the good one got %d", code)
	}

	// Ten wrong tokens, then even the right one waits.
	for i := 0; i < 10; i++ {
		if code := do(t, noRedirect, "GET", base+"/traffic/status", map[string]string{"Authorization": "Bearer wrong"}); code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, code)
		}
	}
	if code := do(t, noRedirect, "GET", base+"/traffic/status", map[string]string{"Authorization": "Bearer " + token}); code != http.StatusTooManyRequests {
		t.Errorf("after 10 wrong tokens the right one got %d, want 429", code)
	}
	if code := do(t, noRedirect, "GET", base+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz while limited: %d", code)
	}
}

// https, wss and TLS raw Rt-Stat on the one port, plain HTTP and raw still
// there; the certificate --tls=auto made is the one served after a restart.
func TestTLSOnOnePort(t *testing.T) {
	data := t.TempDir()
	serve := func() (*app, *tls.Config, []byte) {
		a := launch(t, []string{"--tls", "auto", "--data", data}, nil)
		pemBytes, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			t.Fatal("cert.pem holds no certificate")
		}
		return a, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, pemBytes
	}
	a, tlsCfg, pem1 := serve()
	// Raw Rt-Stat over TLS, as `openssl s_client -connect box:8000` would;
	// first, while no HTTP came from this address (after HTTP a silent
	// connection waits for a browser's spare: README, one port).
	rawTLS := func(speakFirst bool) {
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", a.addr, tlsCfg)
		if err != nil {
			t.Fatalf("raw TLS: %v", err)
		}
		defer tc.Close()
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if speakFirst {
			fmt.Fprint(tc, "version\r\n")
		}
		br := bufio.NewReader(tc)
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "Welcome::") {
			t.Fatalf("raw TLS welcome %q: %v", l, err)
		}
		if !speakFirst {
			fmt.Fprint(tc, "version\n")
		}
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "Version::") {
			t.Fatalf("raw TLS version %q: %v", l, err)
		}
	}
	rawTLS(false)
	rawTLS(true)
	if fi, err := os.Stat(filepath.Join(data, "tls", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v, mode %v", err, fi.Mode())
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := hc.Get("https://" + a.addr + "/healthz")
	if err != nil {
		t.Fatalf("https: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"tls":true`) || resp.TLS == nil {
		t.Fatalf("https /healthz: %d %s", resp.StatusCode, body)
	}
	if code := do(t, noRedirect, "GET", "http://"+a.addr+"/healthz", nil); code != 200 {
		t.Errorf("plain http beside TLS: %d", code)
	}

	c, err := wsDial(context.Background(), "wss://"+a.addr+"/", nil, tlsCfg)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if msg, err := wsutil.ReadServerText(c); err != nil || !strings.HasPrefix(string(msg), "Welcome::") {
		t.Fatalf("wss welcome %q: %v", msg, err)
	}
	_ = wsutil.WriteClientText(c, []byte("version"))
	if msg, err := wsutil.ReadServerText(c); err != nil || !strings.HasPrefix(string(msg), "Version::") {
		t.Fatalf("wss version %q: %v", msg, err)
	}
	c.Close()

	rawTLS(true) // one that speaks first is raw at once, HTTP or not before

	// A client that opens TLS and stalls is dropped, and others are served.
	stall, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	_, _ = stall.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x10}) // a record header, then nothing
	if code := do(t, &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}, "GET", "https://"+a.addr+"/healthz", nil); code != 200 {
		t.Errorf("https beside a stalled handshake: %d", code)
	}

	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	a2, tlsCfg2, pem2 := serve()
	if string(pem1) != string(pem2) {
		t.Fatal("--tls=auto made a new certificate on restart")
	}
	tc, err := tls.Dial("tcp", a2.addr, tlsCfg2)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	defer tc.Close()
	if got := tc.ConnectionState().PeerCertificates[0].Raw; !strings.Contains(string(pem2), "CERTIFICATE") || len(got) == 0 {
		t.Fatal("no certificate served after restart")
	}
	var errTLS x509.UnknownAuthorityError
	if _, err := tls.Dial("tcp", a2.addr, &tls.Config{ServerName: "127.0.0.1"}); !errors.As(err, &errTLS) && err == nil {
		t.Error("an untrusting client accepted the self-signed certificate")
	}
}
