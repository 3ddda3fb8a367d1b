package main

// The web UI in a real headless Chromium (Debian's chromium) against the
// real program: every page loads clean and small, its live values move,
// and each page's main act works end to end.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// firstLoadLimit is issue 7's page weight: what any page's first load may
// transfer, gzip and headers included.
const firstLoadLimit = 200_000

// tab is one browser tab with what it saw: console errors and exceptions,
// requests to anywhere but the box, and the bytes it received.
type tab struct {
	ctx  context.Context
	host string

	mu      sync.Mutex
	errors  []string
	outside []string
	bytes   float64
}

// newBrowser starts one headless Chromium for the test, without any of
// its own background traffic (which this machine's closed network refuses).
func newBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still write there for a moment
	// after the browser is gone, and TempDir's cleanup fails the test then.
	profile, err := os.MkdirTemp("", "edgestat-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(profile),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Run(bctx); err != nil {
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	return bctx
}

// openTab opens a tab of the given size and colour scheme with the cache
// off, so each navigation is a first load.
func openTab(t *testing.T, bctx context.Context, host string, w, h int64, dark bool) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx, host: host}
	chromedp.ListenTarget(ctx, tb.event)
	// The first Run opens the tab and ties it to its context: the tab's own,
	// not a shorter one.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	tb.run(t,
		page.BringToFront(), // a background tab gets no animation frames
		network.Enable(),
		network.SetCacheDisabled(true),
		cdplog.Enable(),
		emulation.SetDeviceMetricsOverride(w, h, 1, w < 600),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}),
	)
	return tb
}

func (tb *tab) event(ev interface{}) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.APITypeError || e.Type == runtime.APITypeAssert {
			var parts []string
			for _, a := range e.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			tb.errors = append(tb.errors, "console."+string(e.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		tb.errors = append(tb.errors, "exception: "+msg)
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.LevelError {
			tb.errors = append(tb.errors, fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		tb.checkURL(e.Request.URL)
	case *network.EventWebSocketCreated:
		tb.checkURL(e.URL)
	case *network.EventLoadingFinished:
		tb.bytes += e.EncodedDataLength
	}
}

// checkURL records a request that would leave the box.
func (tb *tab) checkURL(raw string) {
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "data" || u.Scheme == "blob" || u.Host == tb.host) {
		return
	}
	tb.outside = append(tb.outside, raw)
}

func (tb *tab) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

// eval runs a JS expression and stores its value in out.
func (tb *tab) eval(t *testing.T, js string, out interface{}) {
	t.Helper()
	tb.run(t, chromedp.Evaluate(js, out))
}

// waitJS polls a JS expression until it is true.
func (tb *tab) waitJS(t *testing.T, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate("!!("+js+")", &ok))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s (%v)\n%s", what, timeout, js, err, tb.report())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// text returns the text of the first element matching a CSS selector.
func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	var s string
	tb.eval(t, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel), &s)
	return s
}

func (tb *tab) report() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return fmt.Sprintf("errors: %q\noutside: %q", tb.errors, tb.outside)
}

// assertClean fails on any console error or request that left the box.
func (tb *tab) assertClean(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, e := range tb.errors {
		t.Errorf("browser: %s", e)
	}
	for _, u := range tb.outside {
		t.Errorf("a request left the box: %s", u)
	}
}

func (tb *tab) received() float64 {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.bytes
}

// screensDir is where the screenshots go: EDGESTAT_SCREENSHOTS, else
// screens/ in the repository (kept out of git).
func screensDir(t *testing.T) string {
	dir := os.Getenv("EDGESTAT_SCREENSHOTS")
	if dir == "" {
		dir = "screens"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var uiPages = []string{"live", "servers", "traffic", "ssh", "sessions", "probes"}

func TestUIEndToEnd(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium")
	// Sessions are admitted whatever the CPU: Chromium and the test keep this
	// machine's two cores busy.
	c := startChild(t, "--data", t.TempDir(), "--emulator-rate", "300", "--session-max-cpu", "0")
	base, err := url.Parse(c.base)
	if err != nil {
		t.Fatal(err)
	}
	bctx := newBrowser(t, chromium)
	checks := map[string]func(t *testing.T, tb *tab){
		"live":     func(t *testing.T, tb *tab) { checkLive(t, tb) },
		"servers":  func(t *testing.T, tb *tab) { checkServers(t, tb, c.base) },
		"traffic":  func(t *testing.T, tb *tab) { checkTraffic(t, tb, c.base) },
		"ssh":      func(t *testing.T, tb *tab) { checkSSH(t, tb, c.base) },
		"sessions": func(t *testing.T, tb *tab) { checkSessions(t, tb) },
		"probes":   func(t *testing.T, tb *tab) { checkProbes(t, tb) },
	}
	for _, page := range uiPages {
		t.Run(page, func(t *testing.T) {
			tb := openTab(t, bctx, base.Host, 1366, 900, false)
			tb.run(t, chromedp.Navigate(c.base+"/#/"+page))
			tb.waitJS(t, "page mounted", fmt.Sprintf(`document.querySelector('main').dataset.page === %q && document.querySelector('main').childElementCount > 0`, page), 10*time.Second)
			time.Sleep(2 * time.Second) // the first answers and pushes arrive
			first := tb.received()
			t.Logf("first load of %s: %.0f bytes", page, first)
			if first > firstLoadLimit {
				t.Errorf("first load of %s transferred %.0f bytes, over %d", page, first, firstLoadLimit)
			}
			checks[page](t, tb)
			tb.assertClean(t)
		})
	}
	t.Run("chart", func(t *testing.T) { measureChart(t, bctx, base.Host, c.base) })
	t.Run("screenshots", func(t *testing.T) {
		dir := screensDir(t)
		for _, v := range []struct {
			name string
			w, h int64
			dark bool
		}{{"phone", 390, 844, false}, {"phone-dark", 390, 844, true}, {"desktop", 1366, 900, false}, {"desktop-dark", 1366, 900, true}} {
			tb := openTab(t, bctx, base.Host, v.w, v.h, v.dark)
			for _, page := range uiPages {
				tb.run(t, chromedp.Navigate(c.base+"/#/"+page))
				tb.waitJS(t, "page mounted", fmt.Sprintf(`document.querySelector('main').dataset.page === %q`, page), 10*time.Second)
				time.Sleep(2500 * time.Millisecond)
				var png []byte
				tb.run(t, chromedp.FullScreenshot(&png, 100))
				if err := os.WriteFile(filepath.Join(dir, page+"-"+v.name+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tb.assertClean(t)
		}
		t.Logf("screenshots in %s", dir)
	})
}

// The live page's values move with each push.
func checkLive(t *testing.T, tb *tab) {
	tb.waitJS(t, "first push", `document.querySelector('[data-field=clock]').textContent.includes(':')`, 10*time.Second)
	first := tb.text(t, "[data-field=clock]")
	tb.waitJS(t, "the clock moves", fmt.Sprintf(`document.querySelector('[data-field=clock]').textContent !== %q`, first), 10*time.Second)
	var points int
	tb.eval(t, `document.querySelectorAll('[data-page=live] .legend-item b').length`, &points)
	if points == 0 {
		t.Error("the CPU chart's legend shows no values")
	}
	if st := tb.text(t, "#status"); st != "live" {
		t.Errorf("status pill = %q, want live", st)
	}
}

type serversConfig struct {
	Columns []struct {
		Servers []struct {
			ID        string  `json:"id"`
			Name      string  `json:"name"`
			Host      string  `json:"host"`
			Interval  float64 `json:"interval"`
			AutoStart bool    `json:"autoStart"`
			Token     string  `json:"token"`
		} `json:"servers"`
	} `json:"columns"`
}

var serverKeys = regexp.MustCompile(`(?s)\{\s*"id":[^{}]*"name":[^{}]*"host":[^{}]*"interval":[^{}]*"autoStart":[^{}]*"token":[^{}]*\}`)

// The Servers page loads a config file in Rt-Stat's format, monitors its
// servers, keeps the config across a reload and saves the same file back.
func checkServers(t *testing.T, tb *tab, base string) {
	host := strings.TrimPrefix(base, "http://")
	in := fmt.Sprintf(`{"columns":[{"servers":[{"id":"a","name":"This box","host":%q,"interval":1,"autoStart":true,"token":""}]},`+
		`{"servers":[{"id":"b","name":"Again, slower","host":%q,"interval":2,"autoStart":true,"token":""},`+
		`{"id":"c","name":"Not started","host":%q,"interval":1.5,"autoStart":false,"token":""}]}]}`, host, host, host)
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	tb.run(t, chromedp.SetUploadFiles(`input[type=file][data-testid=servers-load]`, []string{file}, chromedp.ByQuery))
	for _, id := range []string{"a", "b"} {
		tb.waitJS(t, "server "+id+" live", fmt.Sprintf(`(document.querySelector('[data-server-id=%q] .badge') || {dataset: {}}).dataset.state === 'live'`, id), 15*time.Second)
		tb.waitJS(t, "server "+id+" values", fmt.Sprintf(`/\d/.test(document.querySelector('[data-server-id=%q] [data-field=cpu]').textContent)`, id), 15*time.Second)
	}
	if name := tb.text(t, `[data-server-id="b"] [data-field=name]`); name != "Again, slower" {
		t.Errorf("server b's name shows %q", name)
	}
	var want serversConfig
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	var stored string
	tb.eval(t, `localStorage.getItem('edgestat.servers')`, &stored)
	var got serversConfig
	if err := json.Unmarshal([]byte(stored), &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("localStorage holds %s (%v), want %s", stored, err, in)
	}
	// A reload keeps the config (from localStorage).
	tb.run(t, chromedp.Reload())
	tb.waitJS(t, "servers after reload", `document.querySelectorAll('[data-server-id]').length === 3`, 10*time.Second)
	tb.waitJS(t, "server a live after reload", `document.querySelector('[data-server-id="a"] .badge').dataset.state === 'live'`, 15*time.Second)

	dl := t.TempDir()
	tb.run(t, browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dl))
	tb.run(t, chromedp.Evaluate(`document.querySelector('button[data-testid=servers-save]').click()`, nil))
	saved := filepath.Join(dl, "edgestat-servers.json")
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if body, err = os.ReadFile(saved); err == nil && json.Valid(body) {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dl)
			t.Fatalf("no %s after Save (the folder holds %v)", saved, entries)
		}
	}
	got = serversConfig{}
	if err := json.Unmarshal(body, &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("saved file %s (%v), want %s", body, err, in)
	}
	if n := len(serverKeys.FindAll(body, -1)); n != 3 {
		t.Errorf("saved file has %d server objects with the six keys in Rt-Stat's order, want 3:\n%s", n, body)
	}
}

// The Traffic page lists the emulator's applications, as the API ranks
// them, and counts live reports.
func checkTraffic(t *testing.T, tb *tab, base string) {
	tb.waitJS(t, "applications listed", `document.querySelectorAll('[data-testid=traffic-apps] [data-name]').length >= 3`, 20*time.Second)
	var period string
	tb.eval(t, `document.querySelector('input[name=period]:checked').value`, &period)
	var shown []string
	tb.eval(t, `[...document.querySelectorAll('[data-testid=traffic-apps] [data-name]')].map(e => e.dataset.name)`, &shown)
	// All of them: the ranking at the list's edge moves between the page's
	// fetch and ours while the emulator's first minutes fill in.
	resp, err := http.Get(base + "/traffic/protocols?by=app&limit=1000&period=" + url.QueryEscape(period))
	if err != nil {
		t.Fatal(err)
	}
	var api struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil || len(api.Items) == 0 {
		t.Fatalf("/traffic/protocols: %v, %d items", err, len(api.Items))
	}
	names := map[string]bool{}
	for _, it := range api.Items {
		names[it.Name] = true
	}
	for _, n := range shown {
		if !names[n] {
			t.Errorf("the page shows application %q, which /traffic/protocols (period %s) does not know: %v", n, period, api.Items)
		}
	}
	if !strings.Contains(strings.Join(shown, "\n")+"\n", api.Items[0].Name+"\n") {
		t.Errorf("the API's biggest application %q is not on the page (%q)", api.Items[0].Name, shown)
	}
	count := func() int {
		n, _ := strconv.Atoi(strings.Map(digitsOnly, tb.text(t, "[data-field=live-reports]")))
		return n
	}
	n0 := count()
	tb.waitJS(t, "live reports arrive", fmt.Sprintf(`parseInt(document.querySelector('[data-field=live-reports]').textContent.replace(/\D/g, ''), 10) > %d`, n0), 20*time.Second)
	var paths int
	tb.eval(t, `document.querySelectorAll('[data-testid=traffic-paths] [data-path]').length`, &paths)
	if paths == 0 {
		t.Error("no protocol paths listed")
	}
}

func digitsOnly(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}

// The SSH page saves a host; its password is never shown back.
func checkSSH(t *testing.T, tb *tab, base string) {
	const secret = "e2e-Secret-91f3"
	js := fmt.Sprintf(`(() => {
		const f = document.querySelector('form[data-testid=ssh-add]');
		const set = (n, v) => { const e = f.elements[n]; e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); };
		set('name', 'e2e host'); set('host', '127.0.0.1'); set('port', '1'); set('user', 'tester'); set('passwd', %q);
		f.querySelector('button[type=submit]').click();
		return true;
	})()`, secret)
	tb.waitJS(t, "the add form", `document.querySelector('form[data-testid=ssh-add]')`, 10*time.Second)
	tb.eval(t, js, new(bool))
	tb.waitJS(t, "the saved host listed", `document.querySelectorAll('tr[data-host-id]').length === 1`, 10*time.Second)
	var html string
	tb.eval(t, `document.documentElement.outerHTML + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`, &html)
	if strings.Contains(html, secret) {
		t.Error("the password is in the page or the browser's storage after saving")
	}
	resp, err := http.Get(base + "/monitor/hosts")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"has_password":true`) || !strings.Contains(string(b), `"e2e host"`) {
		t.Errorf("/monitor/hosts after saving = %s", b)
	}
}

var tcpLocation = regexp.MustCompile(`tcp://([0-9.]+:[0-9]+)`)

// The Sessions page starts a segmented session; a client reads its stream
// and the page shows the packets it sent.
func checkSessions(t *testing.T, tb *tab) {
	const count = 2000
	tb.waitJS(t, "the session form", `document.querySelector('[data-testid=session-start]')`, 10*time.Second)
	tb.eval(t, fmt.Sprintf(`(() => {
		const c = document.querySelector('input[data-testid=session-count]');
		c.value = '%d'; c.dispatchEvent(new Event('input', {bubbles: true})); c.dispatchEvent(new Event('change', {bubbles: true}));
		document.querySelector('input[name=output][value=segmented]').click();
		document.querySelector('[data-testid=session-start]').click();
		return true;
	})()`, count), new(bool))
	tb.waitJS(t, "the stream's location", `/tcp:\/\/[0-9.]+:[0-9]+/.test((document.querySelector('[data-testid=session-location]') || {}).textContent || '')`, 15*time.Second)
	m := tcpLocation.FindStringSubmatch(tb.text(t, "[data-testid=session-location]"))
	conn, err := net.DialTimeout("tcp", m[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	got, err := countPcap(conn)
	if err != nil || got != count {
		t.Fatalf("the stream held %d packets (%v), want %d", got, err, count)
	}
	tb.waitJS(t, "the row shows the packets", fmt.Sprintf(`[...document.querySelectorAll('tr[data-session-id] [data-field=packets]')].some(e => e.textContent.replace(/\D/g, '') === '%d')`, count), 15*time.Second)
	tb.waitJS(t, "the session finished", `[...document.querySelectorAll('tr[data-session-id] [data-field=state]')].some(e => e.textContent.includes('finished'))`, 15*time.Second)
}

// countPcap counts the records of a pcap stream until EOF.
func countPcap(r io.Reader) (int, error) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, fmt.Errorf("pcap header: %w", err)
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if binary.BigEndian.Uint32(hdr[:4]) == 0xa1b2c3d4 {
		order = binary.BigEndian
	}
	n := 0
	var rec [16]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, fmt.Errorf("record %d: %w", n, err)
		}
		if _, err := io.CopyN(io.Discard, r, int64(order.Uint32(rec[8:12]))); err != nil {
			return n, fmt.Errorf("record %d body: %w", n, err)
		}
		n++
	}
}

// The Probes page shows the emulator's counters moving.
func checkProbes(t *testing.T, tb *tab) {
	tb.waitJS(t, "probe rows", `document.querySelector('tr[data-probe-id] [data-field=packets]')`, 10*time.Second)
	first := tb.text(t, "tr[data-probe-id] [data-field=packets]")
	tb.waitJS(t, "packets grow", fmt.Sprintf(`document.querySelector('tr[data-probe-id] [data-field=packets]').textContent !== %q`, first), 10*time.Second)
	tb.waitJS(t, "pps shown", `/\d/.test(document.querySelector('tr[data-probe-id] [data-field=pps]').textContent)`, 10*time.Second)
}

// measureChart draws the live chart at issue 7's load, 10 series of
// 1-second points over 10 minutes, and reports the time per frame (a
// figure for BENCH.md, not a timed assertion).
func measureChart(t *testing.T, bctx context.Context, host, base string) {
	tb := openTab(t, bctx, host, 1366, 900, false)
	tb.run(t, chromedp.Navigate(base+"/#/probes"))
	var res struct {
		Frames int     `json:"frames"`
		MeanMs float64 `json:"mean_ms"`
		MaxMs  float64 `json:"max_ms"`
		Median float64 `json:"median_ms"`
		Stored int     `json:"points"`
	}
	tb.run(t, chromedp.Evaluate(`(async () => {
		const { TimeChart } = await import('/lib/chart.js');
		const series = [...Array(10).keys()].map((i) => 'series ' + i);
		const c = new TimeChart({ series, span: 600000, capacity: 1202, format: (v) => v.toFixed(0) });
		c.el.style.width = '1300px';
		document.body.append(c.el);
		const t0 = Date.now() - 600000;
		for (let k = 0; k < 600; k++) c.push(t0 + k * 1000, series.map((_, i) => 50 + 40 * Math.sin(k / 20 + i)));
		await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
		if (!c.w) throw new Error('the chart was not laid out');
		const times = [];
		for (let f = 0; f < 120; f++) {
			c.push(t0 + (600 + f) * 1000, series.map((_, i) => 50 + 40 * Math.sin((600 + f) / 20 + i)));
			const s = performance.now();
			c.draw();
			times.push(performance.now() - s);
		}
		c.destroy();
		c.el.remove();
		times.sort((a, b) => a - b);
		return { frames: times.length, mean_ms: times.reduce((a, b) => a + b) / times.length, median_ms: times[times.length >> 1], max_ms: times[times.length - 1], points: c.len * series.length };
	})()`, &res, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if res.Frames != 120 || res.Stored != 7200 {
		t.Fatalf("chart measurement: %+v", res)
	}
	t.Logf("chart: 10 series x 600 visible points, %d draws: median %.2f ms, mean %.2f ms, max %.2f ms per draw", res.Frames, res.Median, res.MeanMs, res.MaxMs)
	tb.assertClean(t)
}

// With --auth-token a browser is sent to the login page, logs in once, and
// its cookie opens the pages, the APIs and the WebSockets (the Live page's
// Rt-Stat socket included, authorized by the cookie on its upgrade).
func TestUILogin(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium")
	const token = "ui-Login-Token-5d"
	c := startChild(t, "--data", t.TempDir(), "--auth-token", token)
	base, err := url.Parse(c.base)
	if err != nil {
		t.Fatal(err)
	}
	bctx := newBrowser(t, chromium)
	tb := openTab(t, bctx, base.Host, 1366, 900, false)
	tb.run(t, chromedp.Navigate(c.base+"/#/probes"))
	tb.waitJS(t, "the login page", `location.pathname === '/login' && document.querySelector('input[name=token]')`, 10*time.Second)
	tb.eval(t, fmt.Sprintf(`(() => { const f = document.forms[0]; f.elements.token.value = %q; f.submit(); return true; })()`, token), new(bool))
	tb.waitJS(t, "back on the app", `location.pathname === '/' && document.querySelector('main') && document.querySelector('main').dataset.page === 'live'`, 10*time.Second)
	tb.waitJS(t, "Rt-Stat pushes over the cookie", `document.querySelector('[data-field=clock]').textContent.includes(':')`, 10*time.Second)
	tb.run(t, chromedp.Navigate(c.base+"/#/probes"))
	tb.waitJS(t, "an API over the cookie", `document.querySelector('tr[data-probe-id] [data-field=packets]')`, 10*time.Second)
	tb.waitJS(t, "Log out offered", `!document.getElementById('logout').hidden`, 10*time.Second)
	tb.assertClean(t)
}
