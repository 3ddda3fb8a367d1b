package traffic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"

	"edgestat/probe"
)

// A recent time, so that no report is too far in the future or past.
var t0 = time.Now().Add(-time.Hour).UnixMilli() / 1000 * 1000

func csvTime(ms int64) string { return fmt.Sprintf("%d.%03d", ms/1000, ms%1000) }

// badLines are malformed reports of every form, each with a word its error
// must contain.
func badLines() []struct{ line, want string } {
	ts := csvTime(t0)
	return []struct{ line, want string }{
		{`[99,1,"eth0",` + fmt.Sprint(t0) + `,35,"99.178.354.153.35",321,3,60,6]`, "column"},                                                          // a column short
		{`99,1,"eth0",` + ts + `,35,"99.178.354.153.35",321,3,60,6`, "column"},                                                                        // CSV, a column short
		{`[99,1,"eth0",` + fmt.Sprint(t0) + `,35,"99.178.354.153.35",321,3,"sixty",6,1]`, "column 8"},                                                 // a string for a number
		{`[42,1,"eth0",1,2,3]`, "format"},                                                                                                             // no such format
		{`[99,1,"eth0",` + fmt.Sprint(t0) + `,35,"99.178.354.153.35",321,3,60,6,1`, "json"},                                                           // unterminated
		{`99,1,"eth0,` + ts + `,35,"99.178",1,1,1,1,1`, "comma"},                                                                                      // unterminated string
		{`99,1,"eth0",` + ts + `,35,"not.a.path",1,1,1,1,1`, "path"},                                                                                  // a path of names
		{`99,1,"eth0",-5.000,35,"99.178",1,1,1,1,1`, "time"},                                                                                          // before 1970
		{`99,1,"eth0",99999999999.000,35,"99.178",1,1,1,1,1`, "time"},                                                                                 // far in the future
		{`99,1,"` + strings.Repeat("x", 200) + `",` + ts + `,35,"99.178",1,1,1,1,1`, "source"},                                                        // a long source
		{`99,1,"eth0",` + ts + `,35,"99.178",1,1,18446744073709551615,1,1`, "larger"},                                                                 // a counter past int64
		{`0,1,"eth0",` + ts + `,7,` + csvTime(t0+5000) + `,4,"1.1.1.1","192.168.1.2",53,5353,17,1,1,60,80,0,0,10,0,"99.178.376.85",85`, "start_time"}, // starts after it ends
		{`100,1,"eth0",` + ts + `,"aa:bb:cc",` + `"192.168.1.2",1,1,1,1`, "mac"},                                                                      // a short MAC
		{`garbage`, ""},
		{`[]`, ""},
	}
}

func goodLines(n int) []string {
	var out []string
	for i := range n {
		t := t0 + int64(i)*5000
		switch i % 3 {
		case 0:
			out = append(out, fmt.Sprintf(`[99,7,"eth0",%d,35,"99.178.354.153.35",%d,3,60,6,1]`, t, 10+i))
		case 1:
			out = append(out, fmt.Sprintf(`99,7,"eth0",%s,85,"99.178.376.85",%d,3,100,60,2`, csvTime(t), 10+i))
		default:
			out = append(out, fmt.Sprintf(`2,7,"eth0",%s,%d,%s,4,"142.250.185.99","192.168.1.107",443,44581,6,8,5,2226,1975,361.661,0,4,0,"99.178.354.341.427",427,"rr4.googlevideo.com",0`, csvTime(t), i, csvTime(t-900)))
		}
	}
	return out
}

func TestParseReportsForms(t *testing.T) {
	good := goodLines(6)
	// One report per line, blank lines and comments between, CRLF ends.
	body := "# from a probe\r\n" + strings.Join(good[:3], "\r\n") + "\n\n" + strings.Join(good[3:], "\n")
	rows, lines, errs, bad := ParseReports([]byte(body))
	if len(rows) != 6 || bad != 0 || len(errs) != 0 {
		t.Fatalf("lines: %d rows, %d bad %v", len(rows), bad, errs)
	}
	if fmt.Sprint(lines) != "[2 3 4 6 7 8]" {
		t.Fatalf("line numbers %v", lines)
	}
	// One JSON array of arrays; CSV lines cannot be in it.
	var arr []string
	for _, g := range good {
		if strings.HasPrefix(g, "[") {
			arr = append(arr, g)
		}
	}
	rows, lines, errs, bad = ParseReports([]byte("[\n" + strings.Join(arr, ",\n") + "\n]"))
	if len(rows) != len(arr) || bad != 0 || fmt.Sprint(lines) != "[2 3]" {
		t.Fatalf("array: %d rows, lines %v, %d bad %v", len(rows), lines, bad, errs)
	}
	if rows, _, _, bad := ParseReports([]byte("[]")); len(rows) != 0 || bad != 0 {
		t.Fatalf("empty array: %d rows %d bad", len(rows), bad)
	}
	if _, _, errs, bad := ParseReports([]byte("[[99,1,\"eth0\",1,35,\"99\",1,1,1,1,1],\n[99,1,")); bad != 1 || errs[0].Line != 2 {
		t.Fatalf("broken array: %d bad %v", bad, errs)
	}
}

// newAPI serves a Store's API on a real loopback listener.
func newAPI(t *testing.T, cfg Config) (*Store, string) {
	t.Helper()
	_, s := openStores(t, t.TempDir(), cfg)
	// The writer runs, as in the program: a POST's answer waits for its commit.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	hub := NewHub(HubConfig{})
	s.cfg.Publisher = hub
	r := httprouter.New()
	NewService(s, hub, nil, nil).Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)
	return s, srv.URL
}

func post(t *testing.T, u, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(u+"/traffic/reports", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return resp.StatusCode, m
}

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("%s: no CORS header", u)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return resp.StatusCode
}

// TestPostBadLinesKeepsGoodOnes sends every malformed form between good
// reports: each bad one is named with its line and reason, every good one
// is stored and comes back from /traffic/data.
func TestPostBadLinesKeepsGoodOnes(t *testing.T) {
	s, u := newAPI(t, Config{FlushInterval: time.Hour})
	good := goodLines(len(badLines()) + 1)
	var body []string
	wantLines := map[int]string{}
	for i, b := range badLines() {
		body = append(body, good[i], b.line)
		wantLines[2*i+2] = b.want
	}
	body = append(body, good[len(good)-1])
	status, ans := post(t, u, strings.Join(body, "\n"))
	if status != http.StatusOK || ans["stored"] != float64(len(good)) || ans["rejected"] != float64(len(badLines())) {
		t.Fatalf("status %d, answer %v", status, ans)
	}
	errs := ans["errors"].([]any)
	if len(errs) != len(badLines()) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(badLines()), errs)
	}
	for _, e := range errs {
		e := e.(map[string]any)
		line := int(e["line"].(float64))
		want, ok := wantLines[line]
		if !ok || !strings.Contains(strings.ToLower(e["error"].(string)), want) {
			t.Errorf("line %d: error %q, want one about %q (bad line %v)", line, e["error"], want, ok)
		}
	}
	// The good reports are there, the same as sent, whether flushed or not.
	check := func(what string) {
		var got [][]any
		n := 0
		for _, format := range []string{"99", "2"} {
			if status := getJSON(t, u+"/traffic/data?probe=7&period=hour&format="+format, &got); status != 200 {
				t.Fatalf("status %d", status)
			}
			n += len(got)
		}
		if n == 0 {
			t.Fatalf("%s: nothing stored", what)
		}
		rows := 0
		for _, format := range []string{"99", "2"} {
			q, _ := ParseQuery(url.Values{"format": {format}, "period": {"day"}})
			res, err := s.Query(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Rows {
				switch r := r.(type) {
				case *probe.StatRow:
					rows += int(r.Packets)
				case *probe.FlowRow:
					rows += int(r.FlowID)
				}
			}
		}
		// Stats rows count 1 or 2 packets each; flows count themselves.
		want := 0
		for i := range good {
			want += []int{1, 2, 1}[i%3]
		}
		if rows != want {
			t.Fatalf("%s: stored reports add up to %d, want %d", what, rows, want)
		}
	}
	check("pending")
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("flushed")

	// Nothing good: 400, nothing at all: 400.
	if status, ans := post(t, u, "garbage\n"); status != 400 || ans["rejected"] != float64(1) {
		t.Fatalf("all bad: %d %v", status, ans)
	}
	if status, ans := post(t, u, "\n\n"); status != 400 || ans["message"] == nil {
		t.Fatalf("empty: %d %v", status, ans)
	}
	// Too large a body: 413, and the server goes on.
	big := bytes.Repeat([]byte(good[0]+"\n"), MaxBody/len(good[0])+10)
	resp, err := http.Post(u+"/traffic/reports", "text/plain", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d", resp.StatusCode)
	}
	if status, _ := post(t, u, good[0]); status != 200 {
		t.Fatalf("after a large body: %d", status)
	}
}

func TestDataParameters(t *testing.T) {
	_, u := newAPI(t, Config{FlushInterval: time.Hour})
	var lines []string
	tb := t0 - t0%60000 // two whole minutes
	for i := range 24 {
		for p, src := range []string{"eth0", "wlan0", "eth0"} {
			lines = append(lines, fmt.Sprintf(`[99,%d,"%s",%d,178,"99.178",%d,1,100,50,1]`, p+1, src, tb+int64(i)*5000, i))
		}
	}
	if status, ans := post(t, u, strings.Join(lines, "\n")); status != 200 {
		t.Fatalf("%d %v", status, ans)
	}
	count := func(query string) int {
		v := url.Values{}
		for _, kv := range strings.Split(query, "&") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				v.Add(k, val)
			}
		}
		var rows []any
		if status := getJSON(t, u+"/traffic/data?"+v.Encode(), &rows); status != 200 {
			t.Fatalf("%s: status %d", query, status)
		}
		return len(rows)
	}
	// The minute window ends at the newest report: 12 periods of 5 s, the
	// oldest just out of it.
	for query, want := range map[string]int{
		"":                                   36,
		"probe=1":                            12,
		"probe[]=1&probe[]=2":                24,
		"probe=1&probe=3":                    24,
		"probe=[1,3]":                        24,
		"probe=[]":                           0,
		"source=eth0":                        24,
		"source[]=wlan0":                     12,
		`source=["eth0","wlan0"]`:            36,
		`source=["wlan0"]&probe=1`:           0,
		"period=hour":                        6, // 2 one-minute buckets × 3 sources
		"period=month&raw=false":             3,
		"format=99&period=minute&_=12345678": 36,
		"format=1":                           0,
	} {
		if got := count(query); got != want {
			t.Errorf("%q: %d rows, want %d", query, got, want)
		}
	}
	var objs []map[string]any
	getJSON(t, u+"/traffic/data?raw=false&probe=2", &objs)
	if len(objs) != 12 || objs[0]["source"] != "wlan0" || objs[0]["bytecount"] != float64(100) || objs[0]["flowcount"] == nil {
		t.Fatalf("objects: %v", objs)
	}
	for query, param := range map[string]string{
		"format=98": "format", "format=99&format=0": "format", "period=year": "period", "raw=maybe": "raw",
		"probe=x": "probe", "probe=[1,": "probe", "probe=-1": "probe", "probe=4294967296": "probe",
		`source=["a",1]`: "source", "source=[": "source",
	} {
		var e apiError
		q := url.Values{}
		k, v, _ := strings.Cut(query, "=")
		q.Set(k, v)
		if k == "format" && strings.Contains(v, "&") {
			q = url.Values{"format": {"99", "0"}}
		}
		if status := getJSON(t, u+"/traffic/data?"+q.Encode(), &e); status != 400 || e.Error.Code != ErrorCode || !strings.Contains(e.Error.Message, "parameter "+param) {
			t.Errorf("%s: status %d, error %+v", query, status, e)
		}
	}
}

func FuzzParseReports(f *testing.F) {
	for _, b := range badLines() {
		f.Add([]byte(b.line))
	}
	f.Add([]byte(strings.Join(goodLines(4), "\n")))
	f.Add([]byte("[[99,1,\"eth0\",1,35,\"99\",1,1,1,1,1],[0]]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, lines, errs, bad := ParseReports(body)
		if len(rows) != len(lines) || len(errs) > maxLineErrors || len(errs) > bad {
			t.Fatalf("%d rows, %d lines, %d errors of %d", len(rows), len(lines), len(errs), bad)
		}
		n := 1 + bytes.Count(body, []byte{'\n'})
		for _, l := range lines {
			if l < 1 || l > n {
				t.Fatalf("line %d of %d", l, n)
			}
		}
		for _, r := range rows {
			_ = validate(r, time.Now().UnixMilli()) // must not panic
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{"format=99&probe=[1,2]&source=[\"eth0\"]&period=hour", "probe[]=1&probe[]=2&raw=false", "source=eth0&source=wlan0", "probe=%5B"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			if _, ok := err.(*ParamError); !ok {
				t.Fatalf("error %v is not a ParamError", err)
			}
			return
		}
		if _, ok := periods[q.Period.Name]; !ok || len(q.Probes) > maxListLen || len(q.Sources) > maxListLen {
			t.Fatalf("query %+v", q)
		}
	})
}

// More new probe/source pairs than the bound leaves, in one body: the
// reports over the bound are refused at intake and named, the rest are
// stored, and the store goes on writing (a batch over the bound used to be
// retried forever, and nothing was stored again).
func TestSourceBoundInOneBatch(t *testing.T) {
	s, u := newAPI(t, Config{})
	now := time.Now().UnixMilli()
	var body strings.Builder
	for i := range maxSources + 76 {
		fmt.Fprintf(&body, "[99,7,\"src-%d\",%d,178,\"99.178\",1,1,100,50,1]\n", i, now-int64(i))
	}
	code, m := post(t, u, body.String())
	if code != 200 || m["stored"].(float64) != maxSources || m["rejected"].(float64) != 76 {
		t.Fatalf("POST: %d %v", code, m["stored"])
	}
	if errs := m["errors"].([]any); !strings.Contains(fmt.Sprint(errs[0]), "sources") {
		t.Fatalf("the refusal does not name the bound: %v", errs[0])
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := s.Counters(); c.Stored != maxSources || c.Failures != 0 {
		t.Fatalf("stored %d, %d failed batches", c.Stored, c.Failures)
	}
	// A known pair is still stored; a new one is still refused.
	if code, m := post(t, u, fmt.Sprintf("[99,7,\"src-3\",%d,178,\"99.178\",1,1,100,50,1]\n", now)); code != 200 || m["stored"].(float64) != 1 {
		t.Fatalf("a known pair after the bound: %d %v", code, m)
	}
	if code, _ := post(t, u, fmt.Sprintf("[99,7,\"new\",%d,178,\"99.178\",1,1,100,50,1]\n", now)); code != 400 {
		t.Fatalf("a new pair past the bound: %d", code)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := s.Counters(); c.Stored != maxSources+1 {
		t.Fatalf("stored %d after the bound, want %d", c.Stored, maxSources+1)
	}
}

// Reports admitted before the bound filled but written after it are left
// out by the writer, not failing the batch.
func TestWriterLeavesOutOverBound(t *testing.T) {
	_, s := openStores(t, t.TempDir(), Config{})
	now := time.Now().UnixMilli()
	var rows []probe.Row
	for i := range maxSources + 10 {
		rows = append(rows, &probe.StatRow{Probe: 7, Source: fmt.Sprintf("s%d", i), Time: now, App: 178, Path: "99.178", Bytes: 1})
	}
	s.pendMu.Lock()
	for _, r := range rows {
		s.addLocked(r) // no intake check: as if the reservations had been forgotten
	}
	s.pendMu.Unlock()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if c := s.Counters(); c.Stored != maxSources || c.Invalid != 10 || c.Failures != 0 {
		t.Fatalf("stored %d, invalid %d, failures %d", c.Stored, c.Invalid, c.Failures)
	}
}

// POST waits for its commit and says "stored"; with ?wait=0 it answers
// 202 "accepted" at once, and the reports are written with the next batch.
func TestPostStoredIsWritten(t *testing.T) {
	s, u := newAPI(t, Config{FlushInterval: time.Hour})
	now := time.Now().UnixMilli()
	line := func(i int) string {
		return fmt.Sprintf("[99,5,\"eth0\",%d,178,\"99.178\",1,1,100,50,1]\n", now-int64(i))
	}
	code, m := post(t, u, line(1)+line(2))
	if code != 200 || m["stored"].(float64) != 2 || s.Counters().Stored != 2 {
		t.Fatalf("POST: %d %v, %d written", code, m, s.Counters().Stored)
	}
	resp, err := http.Post(u+"/traffic/reports?wait=0", "text/plain", strings.NewReader(line(3)))
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || a["stored"].(float64) != 0 || a["accepted"].(float64) != 1 {
		t.Fatalf("POST ?wait=0: %d %v", resp.StatusCode, a)
	}
	if n := s.Counters().Stored; n != 2 {
		t.Errorf("%d written right after ?wait=0, want 2: it waits for the next batch", n)
	}
}
