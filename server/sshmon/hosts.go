package sshmon

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
)

// Hosts are the saved SSH hosts of the UI, their secrets sealed at rest.
type Hosts struct {
	db   *sql.DB
	aead cipher.AEAD
}

// A Saved host as the API lists it: never its secrets.
type Saved struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	User        string `json:"user"`
	HasPassword bool   `json:"has_password"`
	HasKey      bool   `json:"has_key"`
	Created     int64  `json:"created"` // ms
}

// secretKey is the key file's name in the data directory.
const secretKey = "secret.key"

// OpenHosts keeps saved hosts in db, sealing their secrets with the key in
// dir/secret.key, made (32 random bytes, mode 0600) on first use.
func OpenHosts(db *sql.DB, dir string) (*Hosts, error) {
	path := dir + string(os.PathSeparator) + secretKey
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("sshmon: make the secret key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sshmon: write the secret key: %w", err)
		}
		_, werr := f.Write(key)
		serr := f.Sync()
		if cerr := f.Close(); werr == nil && serr == nil {
			werr = cerr
		}
		if werr != nil || serr != nil {
			return nil, fmt.Errorf("sshmon: write the secret key: %w", errors.Join(werr, serr))
		}
	} else if err != nil {
		return nil, fmt.Errorf("sshmon: read the secret key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("sshmon: %s holds %d bytes, want 32", path, len(key))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sshmon: %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sshmon: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sshmon: %w", err)
	}
	return &Hosts{db: db, aead: aead}, nil
}

type secrets struct {
	Password string `json:"p,omitempty"`
	Key      []byte `json:"k,omitempty"`
}

// seal encrypts a target's secrets, bound to its user@host:port.
func (h *Hosts) seal(t Target) ([]byte, error) {
	plain, err := json.Marshal(secrets{t.Password, t.Key})
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, h.aead.NonceSize(), h.aead.NonceSize()+len(plain)+h.aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	return h.aead.Seal(nonce, nonce, plain, []byte(t.SSHKey())), nil
}

func (h *Hosts) open(t *Target, sealed []byte) error {
	n := h.aead.NonceSize()
	if len(sealed) < n {
		return errors.New("sshmon: a saved secret is damaged")
	}
	plain, err := h.aead.Open(nil, sealed[:n], sealed[n:], []byte(t.SSHKey()))
	if err != nil {
		return fmt.Errorf("sshmon: a saved secret of %s cannot be opened (another secret.key?): %w", t.SSHKey(), err)
	}
	var s secrets
	if err := json.Unmarshal(plain, &s); err != nil {
		return fmt.Errorf("sshmon: a saved secret is damaged: %w", err)
	}
	t.Password, t.Key = s.Password, s.Key
	return nil
}

// Save stores a target (replacing the one with the same user@host:port).
func (h *Hosts) Save(t Target, name string) (Saved, error) {
	if t.Password == "" && len(t.Key) == 0 {
		return Saved{}, errors.New("a password or a key is needed")
	}
	sealed, err := h.seal(t)
	if err != nil {
		return Saved{}, fmt.Errorf("sshmon: seal: %w", err)
	}
	if name == "" {
		name = t.SSHKey()
	}
	now := time.Now().UnixMilli()
	var id int64
	if err := h.db.QueryRow(`INSERT INTO ssh_hosts(name, host, port, user, secret, created) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(user, host, port) DO UPDATE SET name = excluded.name, secret = excluded.secret RETURNING id`,
		name, t.Host, t.Port, t.User, sealed, now).Scan(&id); err != nil {
		return Saved{}, fmt.Errorf("sshmon: save host: %w", err)
	}
	return Saved{ID: id, Name: name, Host: t.Host, Port: t.Port, User: t.User, HasPassword: t.Password != "", HasKey: len(t.Key) > 0, Created: now}, nil
}

// List returns the saved hosts without their secrets.
func (h *Hosts) List() ([]Saved, error) {
	rows, err := h.db.Query(`SELECT id, name, host, port, user, secret, created FROM ssh_hosts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sshmon: list hosts: %w", err)
	}
	defer rows.Close()
	out := []Saved{}
	for rows.Next() {
		var s Saved
		var sealed []byte
		if err := rows.Scan(&s.ID, &s.Name, &s.Host, &s.Port, &s.User, &sealed, &s.Created); err != nil {
			return nil, fmt.Errorf("sshmon: list hosts: %w", err)
		}
		t := Target{User: s.User, Host: s.Host, Port: s.Port}
		if h.open(&t, sealed) == nil {
			s.HasPassword, s.HasKey = t.Password != "", len(t.Key) > 0
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Delete forgets a saved host.
func (h *Hosts) Delete(id int64) (bool, error) {
	res, err := h.db.Exec(`DELETE FROM ssh_hosts WHERE id = ?`, id)
	if err != nil {
		return false, fmt.Errorf("sshmon: delete host: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Fill completes a target given without secrets from the saved host with
// its user@host:port; it reports whether there was one.
func (h *Hosts) Fill(t *Target) (bool, error) {
	var sealed []byte
	err := h.db.QueryRow(`SELECT secret FROM ssh_hosts WHERE user = ? AND host = ? AND port = ?`, t.User, t.Host, t.Port).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sshmon: read saved host: %w", err)
	}
	return true, h.open(t, sealed)
}

// HostsRoutes serves the saved hosts: GET /monitor/hosts, POST
// /monitor/hosts {"name","host","port","user","passwd","key"} and DELETE
// /monitor/hosts/:id. Answers never carry a secret.
func HostsRoutes(r *httprouter.Router, h *Hosts) {
	fail := func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
	}
	ok := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	r.GET("/monitor/hosts", func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
		list, err := h.List()
		if err != nil {
			fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		ok(w, list)
	})
	r.POST("/monitor/hosts", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		var body struct {
			Name string `json:"name"`
			Host string `json:"host"`
			Port *int   `json:"port"`
			User string `json:"user"`
			Pass string `json:"passwd"`
			Key  string `json:"key"`
		}
		d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		d.DisallowUnknownFields()
		if err := d.Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		// The same checks as a start_monitor target.
		req, _ := json.Marshal(map[string]any{"id": 1, "method": "ssh.start_monitor", "params": []any{map[string]any{
			"host": body.Host, "port": body.Port, "user": body.User, "passwd": body.Pass, "key": body.Key}}})
		if body.Port == nil {
			req, _ = json.Marshal(map[string]any{"id": 1, "method": "ssh.start_monitor", "params": []any{map[string]any{
				"host": body.Host, "user": body.User, "passwd": body.Pass, "key": body.Key}}})
		}
		parsed, err := ParseRPC(req)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		t := parsed.Targets[0]
		if t.Password == "" && len(t.Key) == 0 {
			fail(w, http.StatusBadRequest, "passwd: a password or a key is needed")
			return
		}
		if len(body.Name) > 128 {
			fail(w, http.StatusBadRequest, "name: at most 128 bytes")
			return
		}
		s, err := h.Save(t, body.Name)
		if err != nil {
			fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		ok(w, s)
	})
	r.DELETE("/monitor/hosts/:id", func(w http.ResponseWriter, _ *http.Request, ps httprouter.Params) {
		id, err := strconv.ParseInt(ps.ByName("id"), 10, 64)
		if err != nil {
			fail(w, http.StatusBadRequest, "id: not a number")
			return
		}
		found, err := h.Delete(id)
		switch {
		case err != nil:
			fail(w, http.StatusInternalServerError, err.Error())
		case !found:
			fail(w, http.StatusNotFound, "no saved host "+ps.ByName("id"))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}
