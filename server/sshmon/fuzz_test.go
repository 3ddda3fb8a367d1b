package sshmon

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/julienschmidt/httprouter"

	"edgestat/server/store"
)

// FuzzParseRPC: any /monitor message is an error or a request with a
// known method and targets that name a host and a user.
func FuzzParseRPC(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"method":"ssh.start_monitor","params":[{"host":"127.0.0.1","port":22,"user":"u","passwd":"p"}]}`,
		`{"id":"a","method":"ssh.stop_monitor","params":[{"host":"h","user":"u"}]}`,
		`{"id":null,"method":"x"}`, `[]`, `{"id":1,"params":{}}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		req, err := ParseRPC(msg)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if req.Method != "ssh.start_monitor" && req.Method != "ssh.stop_monitor" {
			t.Fatalf("method %q accepted", req.Method)
		}
		if len(req.Targets) == 0 {
			t.Fatal("a request without targets")
		}
		for _, tg := range req.Targets {
			if tg.Host == "" || tg.User == "" || tg.Port < 1 || tg.Port > 65535 {
				t.Fatalf("target %+v accepted", tg)
			}
		}
	})
}

// FuzzSavedHostsBody: POST /monitor/hosts answers any body with 200 or 400,
// never a server error, and a host is saved only with a secret.
func FuzzSavedHostsBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"nas","host":"127.0.0.1","port":22,"user":"mon","passwd":"pw"}`,
		`{"host":"h","user":"u"}`, `{"host":"h","user":"u","key":"x"}`, `{}`, `[`, `{"extra":1}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	st, err := store.Open(context.Background(), dir, realSchema(f), "test")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	hosts, err := OpenHosts(st.DB(), dir)
	if err != nil {
		f.Fatal(err)
	}
	r := httprouter.New()
	HostsRoutes(r, hosts)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/monitor/hosts", bytes.NewReader(body)))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("body %q: %d %s", body, w.Code, w.Body)
		}
		if w.Code == http.StatusOK && bytes.Contains(w.Body.Bytes(), []byte(`"passwd":"`)) {
			t.Fatalf("a secret in the answer: %s", w.Body)
		}
	})
}
