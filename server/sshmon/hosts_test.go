package sshmon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"

	"edgestat/server/store"
)

// TestSavedHosts saves a host over HTTP, finds its password sealed in the
// database (not in clear), lists it without secrets, monitors it with no
// password in the request, and deletes it.
func TestSavedHosts(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir, realSchema(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hosts, err := OpenHosts(st.DB(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, secretKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	r := httprouter.New()
	HostsRoutes(r, hosts)
	hs := httptest.NewServer(r)
	defer hs.Close()

	root, _ := filepath.Abs(filepath.Join("testdata", "x86-server"))
	srv := startSSHServer(t, "127.0.0.1:0", root, newHostKey(t), nil)
	const pw = "secret"
	body := fmt.Sprintf(`{"name":"nas","host":"127.0.0.1","port":%d,"user":"mon","passwd":"%s"}`, srv.Addr().Port, pw)
	resp, err := http.Post(hs.URL+"/monitor/hosts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var saved Saved
	b := new(bytes.Buffer)
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || json.Unmarshal(b.Bytes(), &saved) != nil || !saved.HasPassword || saved.Name != "nas" || strings.Contains(b.String(), pw) {
		t.Fatalf("save: %d %s", resp.StatusCode, b)
	}
	// The database holds no clear password; the key file is needed to open it.
	var sealed []byte
	if err := st.DB().QueryRow(`SELECT secret FROM ssh_hosts WHERE id = ?`, saved.ID).Scan(&sealed); err != nil || bytes.Contains(sealed, []byte(pw)) {
		t.Fatalf("stored secret %q, %v", sealed, err)
	}
	raw, _ := os.ReadFile(st.Path())
	if bytes.Contains(raw, []byte(`"p":"`+pw)) {
		t.Fatal("the password is in the database file")
	}
	// Listed without secrets.
	resp, err = http.Get(hs.URL + "/monitor/hosts")
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(b.String(), `"has_password":true`) || strings.Contains(b.String(), pw) {
		t.Fatalf("list: %s", b)
	}
	// Bad bodies.
	for _, bad := range []string{`{"host":"x","user":"u"}`, `{"host":"x","user":"u","passwd":"p","extra":1}`, `{"user":"u","passwd":"p"}`, `[`} {
		resp, err := http.Post(hs.URL+"/monitor/hosts", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}

	// Monitored with no password in the request.
	pool := NewPool(PoolConfig{KnownHosts: NewKnownHosts(st.DB())})
	m := NewMonitor(MonitorConfig{Pool: pool})
	rpc := NewRPC(m, RPCConfig{Hosts: hosts})
	ws := httptest.NewServer(rpc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rpc.Run(ctx) }()
	defer func() { cancel(); <-done; ws.Close() }()
	e := &monitorEnv{url: "ws" + strings.TrimPrefix(ws.URL, "http") + "/monitor", pool: pool, m: m}
	c := e.dial(t)
	c.send(fmt.Sprintf(`{"id":"s1","method":"ssh.start_monitor","params":[{"host":"127.0.0.1","port":%d,"user":"mon"}]}`, srv.Addr().Port))
	if m := c.reply(`"s1"`); m.Error != nil {
		t.Fatalf("start a saved host: %s", *m.Error)
	}
	c.more(EventMemory)
	c.send(`{"id":"s2","method":"ssh.start_monitor","params":[{"host":"127.0.0.1","port":1,"user":"mon"}]}`)
	if m := c.reply(`"s2"`); m.Error == nil || !strings.Contains(*m.Error, "no saved host") {
		t.Fatalf("an unsaved host without a password: %v", m.Error)
	}

	// Another key file cannot open the secrets.
	other := t.TempDir()
	h2, err := OpenHosts(st.DB(), other)
	if err != nil {
		t.Fatal(err)
	}
	tg := Target{User: "mon", Host: "127.0.0.1", Port: srv.Addr().Port}
	if _, err := h2.Fill(&tg); err == nil || tg.Password != "" {
		t.Fatalf("another key opened the secret: %v", err)
	}
	// A key file readable by others is refused.
	os.Chmod(filepath.Join(other, secretKey), 0o644)
	if _, err := OpenHosts(st.DB(), other); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}

	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/monitor/hosts/%d", hs.URL, saved.ID), nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	resp.Body.Close()
	if list, _ := hosts.List(); len(list) != 0 {
		t.Fatalf("after delete: %+v", list)
	}
}
