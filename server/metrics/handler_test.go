package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func gaugeCollector(name string, v float64) Collector {
	return CollectorFunc(func(_ context.Context, w *Writer) error {
		w.Gauge(name, "Test gauge "+name+".", v)
		return nil
	})
}

// TestHandlerDropsFailedCollector: a collector that fails after writing
// leaves none of its lines, the others are served, and the scrape families
// say which one failed; a collector's bug (a duplicate family) counts as
// a failure too.
func TestHandlerDropsFailedCollector(t *testing.T) {
	var logged bytes.Buffer
	h := NewHandler(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.Add("first", gaugeCollector("first_value", 1))
	h.Add("broken", CollectorFunc(func(_ context.Context, w *Writer) error {
		w.Gauge("broken_value", "Written, then taken back.", 2)
		w.Family("broken_half_total", "Cut mid-line.", Counter)
		w.Sample("")
		w.Label("x", "y")
		return errors.New("read /proc/nothing: no such file")
	}))
	h.Add("duplicate", gaugeCollector("first_value", 3))
	h.Add("last", gaugeCollector("broken_value", 4)) // the failed one's name is free again
	out, err := h.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"\nfirst_value 1\n", "\nbroken_value 4\n",
		`edgestat_scrape_collector_success{collector="first"} 1`,
		`edgestat_scrape_collector_success{collector="broken"} 0`,
		`edgestat_scrape_collector_success{collector="duplicate"} 0`,
		`edgestat_scrape_collector_success{collector="last"} 1`,
		`edgestat_scrape_collector_duration_seconds{collector="broken"} `,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
	for _, bad := range []string{"broken_value 2", "broken_half", "first_value 3"} {
		if strings.Contains(s, bad) {
			t.Errorf("%q served:\n%s", bad, s)
		}
	}
	if !strings.Contains(logged.String(), "no such file") || !strings.Contains(logged.String(), "level=DEBUG") {
		t.Errorf("failure not logged at debug: %s", logged.String())
	}
}

func TestHandlerHTTP(t *testing.T) {
	h := NewHandler(slog.New(slog.DiscardHandler))
	h.Add("many", CollectorFunc(func(_ context.Context, w *Writer) error {
		w.Family("edgestat_test_lines_total", "Enough lines to be worth gzip.", Counter)
		for i := range 200 {
			w.Sample("")
			w.LabelUint("i", uint64(i))
			w.Uint(uint64(i))
		}
		return nil
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(method, ae string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL, nil)
		req.Header.Set("Accept-Encoding", ae) // set: the transport would add and undo gzip itself
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	resp, plain := get(http.MethodGet, "identity")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("plain: %d %v", resp.StatusCode, resp.Header)
	}
	if !bytes.Contains(plain, []byte("\nedgestat_test_lines_total{i=\"199\"} 199\n")) {
		t.Fatalf("plain body:\n%s", plain)
	}

	resp, zipped := get(http.MethodGet, "gzip, deflate")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip headers: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// The durations differ between scrapes; everything before them not.
	cut := func(b []byte) []byte { return b[:bytes.Index(b, []byte("# HELP edgestat_scrape_collector_duration"))] }
	if !bytes.Equal(cut(unzipped), cut(plain)) {
		t.Errorf("gzip body differs from the plain one")
	}
	if len(zipped) >= len(plain) {
		t.Errorf("gzip did not shrink: %d >= %d", len(zipped), len(plain))
	}

	if resp, b := get(http.MethodHead, ""); resp.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD: %d, %d bytes", resp.StatusCode, len(b))
	}
	if resp, _ := get(http.MethodPost, ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// TestHandlerWaitsItsTurn: a scrape that cannot get the buffer before its
// context ends says so rather than queueing forever.
func TestHandlerWaitsItsTurn(t *testing.T) {
	h := NewHandler(nil)
	<-h.turn // a scrape in progress
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Scrape(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("code %d", rec.Code)
	}
	h.turn <- struct{}{}
	if _, err := h.Scrape(context.Background()); err != nil {
		t.Error(err)
	}
}

// promtool returns the path of promtool (Debian package prometheus), or
// skips; in CI (CI=true) its absence fails the test.
func promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	msg := "promtool not installed (Debian package prometheus): this test needs it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// checkPromtool runs `promtool check metrics` (the parser and the linter
// of Prometheus itself) on an exposition.
func checkPromtool(t *testing.T, exposition []byte) {
	t.Helper()
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, exposition)
	}
}
