package ui

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestEmbeddedAssets(t *testing.T) {
	h := Handler("")
	resp := get(t, h, "/", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="app.js">`) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if resp := get(t, h, "/", map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation = %d, want 304", resp.StatusCode)
	}
	for _, p := range []string{"/app.js", "/lib/rtstat.js", "/lib/chart.js", "/pages/live.js", "/style.css"} {
		resp := get(t, h, p, map[string]string{"Accept-Encoding": "gzip, br"})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("GET %s = %d, encoding %q", p, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		want, _ := files.ReadFile(strings.TrimPrefix(p, "/"))
		if err != nil || string(plain) != string(want) {
			t.Fatalf("%s: gzip body differs from the file (%v)", p, err)
		}
	}
	if resp := get(t, h, "/missing.js", nil); resp.StatusCode != 404 {
		t.Fatalf("missing asset = %d", resp.StatusCode)
	}
}

// --ui-dir serves edits from disk without a rebuild.
func TestDevDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("edited"), 0o600); err != nil {
		t.Fatal(err)
	}
	resp := get(t, Handler(dir), "/", nil)
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "edited" {
		t.Fatalf("dev dir served %q", body)
	}
}
