package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A Collector writes some metric families. It must not keep w, and it is
// never called concurrently with itself (the Handler serialises scrapes),
// so it may keep reusable buffers. On error everything it wrote is
// dropped from the answer.
type Collector interface {
	Collect(ctx context.Context, w *Writer) error
}

// CollectorFunc is a Collector made of a function.
type CollectorFunc func(ctx context.Context, w *Writer) error

// Collect implements Collector.
func (f CollectorFunc) Collect(ctx context.Context, w *Writer) error { return f(ctx, w) }

// Bounds of a scrape.
const (
	// MaxBytes bounds an exposition. A full box (1,024 probes' apps,
	// hundreds of interfaces) writes well under 1 MB; a collector that
	// would pass this is cut out rather than let memory grow.
	MaxBytes = 8 << 20
	// retainBytes is the buffer kept between scrapes; a bigger one (a
	// one-off) is let go so it does not pin memory for the process's life.
	retainBytes = 1 << 20
	// Timeout bounds a whole scrape; Prometheus's default scrape timeout
	// is 10 s. A collector that blocks past it (statfs on a sick disk)
	// gets a done ctx and should give up.
	Timeout = 10 * time.Second
	// writeWait bounds sending the answer: the buffer is shared, so a
	// scraper that stops reading must not hold it.
	writeWait = 10 * time.Second
	// gzipMin is the smallest answer worth compressing.
	gzipMin = 1024
)

type named struct {
	name string
	c    Collector
}

// Handler answers GET /metrics with the exposition of its collectors, in
// the order they were added, and two families about the scrape itself:
// edgestat_scrape_collector_success and _duration_seconds per collector.
// Scrapes take turns: they share one buffer, so a scrape allocates almost
// nothing, and a second scraper waits at most Timeout for its turn.
type Handler struct {
	log        *slog.Logger
	collectors []named

	turn chan struct{} // one token: the right to use the buffers below
	w    *Writer
	gz   *gzip.Writer
	zbuf bytes.Buffer
	ok   []bool
	took []time.Duration
}

// NewHandler returns a Handler with no collectors; log gets a collector's
// failure at debug level (a scraper sees it as success 0).
func NewHandler(log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	h := &Handler{log: log, turn: make(chan struct{}, 1), w: NewWriter(MaxBytes), gz: gz}
	h.turn <- struct{}{}
	return h
}

// Add appends a collector, named for the scrape families and the log. Add
// all collectors before serving.
func (h *Handler) Add(name string, c Collector) {
	h.collectors = append(h.collectors, named{name, c})
	h.ok = append(h.ok, false)
	h.took = append(h.took, 0)
}

// collect runs every collector into the handler's writer and returns the
// exposition, valid until the next collect. The caller holds the turn.
func (h *Handler) collect(ctx context.Context) []byte {
	w := h.w
	w.Reset()
	for i, n := range h.collectors {
		m := w.mark()
		start := time.Now()
		err := n.c.Collect(ctx, w)
		if err == nil {
			err = w.end()
		}
		h.took[i] = time.Since(start)
		h.ok[i] = err == nil
		if err != nil {
			w.rollback(m)
			h.log.Debug("metrics: collector failed", "collector", n.name, "err", err)
		}
	}
	w.Family("edgestat_scrape_collector_success", "1 when the collector's families are in this answer, 0 when it failed (the reason is logged at debug level).", Gauge)
	for i, n := range h.collectors {
		v := 0.0
		if h.ok[i] {
			v = 1
		}
		w.Value(v, "collector", n.name)
	}
	w.Family("edgestat_scrape_collector_duration_seconds", "How long the collector took in this scrape.", Gauge)
	for i, n := range h.collectors {
		w.Value(h.took[i].Seconds(), "collector", n.name)
	}
	if err := w.end(); err != nil {
		h.log.Debug("metrics: scrape families", "err", err)
	}
	return w.Bytes()
}

// Scrape returns the exposition as a new slice (tests, and tools that want
// the text without HTTP).
func (h *Handler) Scrape(ctx context.Context) ([]byte, error) {
	select {
	case <-h.turn:
	case <-ctx.Done():
		return nil, fmt.Errorf("metrics: waiting for the previous scrape: %w", ctx.Err())
	}
	defer func() { h.turn <- struct{}{} }()
	return bytes.Clone(h.collect(ctx)), nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), Timeout)
	defer cancel()
	select {
	case <-h.turn:
	case <-ctx.Done():
		http.Error(rw, "metrics: the previous scrape is still running", http.StatusServiceUnavailable)
		return
	}
	defer func() {
		if cap(h.w.buf) > retainBytes {
			h.w.buf = nil
		}
		if h.zbuf.Cap() > retainBytes {
			h.zbuf = bytes.Buffer{}
		}
		h.turn <- struct{}{}
	}()
	body := h.collect(ctx)

	hd := rw.Header()
	hd.Set("Content-Type", ContentType)
	hd.Set("Cache-Control", "no-store")
	hd.Add("Vary", "Accept-Encoding")
	if len(body) >= gzipMin && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.zbuf.Reset()
		h.gz.Reset(&h.zbuf)
		_, _ = h.gz.Write(body) // into memory: cannot fail
		_ = h.gz.Close()
		body = h.zbuf.Bytes()
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	// Not every ResponseWriter supports deadlines (httptest's does not);
	// the server's own do.
	_ = http.NewResponseController(rw).SetWriteDeadline(time.Now().Add(writeWait))
	rw.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := rw.Write(body); err != nil {
		h.log.Debug("metrics: writing the answer", "remote", r.RemoteAddr, "err", err)
	}
}

// acceptsGzip reads Accept-Encoding: gzip listed without q=0.
func acceptsGzip(ae string) bool {
	for ae != "" {
		var part string
		part, ae, _ = strings.Cut(ae, ",")
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.TrimSpace(params)
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}
