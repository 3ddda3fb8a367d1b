package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
)

// MaxBody bounds a POST /post/ body.
const MaxBody = 16 << 10

// maxDuration bounds a probe session.
const maxDuration = time.Hour

// defaultDuration is how long a probe session streams when it names no limit.
const defaultDuration = time.Minute

// A FieldError is a bad request field; the API answers it with 400.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

type apiError struct {
	Error struct {
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, field, msg string) {
	var e apiError
	e.Error.Field, e.Error.Message = field, msg
	writeJSON(w, status, e)
}

// ParseRequest reads a POST /post/ body: {"count": N, "plain_stream": B},
// or {"probe": ID, "plain_stream": B} with "count" and "duration" (seconds)
// as its limits. Unknown fields are refused.
func ParseRequest(body []byte, maxCount int) (Request, error) {
	var req Request
	var fields map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&fields); err != nil || fields == nil {
		return req, &FieldError{"body", "want a JSON object such as {\"count\": 100000, \"plain_stream\": false}"}
	}
	if d.More() {
		return req, &FieldError{"body", "more than one JSON value"}
	}
	if name, ok := duplicateKey(body); ok {
		return req, &FieldError{name, "given twice"}
	}
	for name := range fields {
		switch name {
		case "count", "plain_stream", "probe", "duration":
		default:
			return req, &FieldError{name, "unknown field (count, plain_stream, probe and duration are known)"}
		}
	}
	integer := func(name string, lo, hi int64) (int64, bool, error) {
		raw, ok := fields[name]
		if !ok {
			return 0, false, nil
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil || raw[0] == '"' {
			return 0, true, &FieldError{name, fmt.Sprintf("must be a whole number from %d to %d, not %s", lo, hi, raw)}
		}
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || v < lo || v > hi {
			return 0, true, &FieldError{name, fmt.Sprintf("must be a whole number from %d to %d, not %s", lo, hi, n)}
		}
		return v, true, nil
	}
	raw, ok := fields["plain_stream"]
	if !ok {
		return req, &FieldError{"plain_stream", "missing: true for a stream only, false for a stream and its segments"}
	}
	if err := json.Unmarshal(raw, &req.PlainStream); err != nil || (string(raw) != "true" && string(raw) != "false") {
		return req, &FieldError{"plain_stream", fmt.Sprintf("must be true or false, not %s", raw)}
	}
	count, hasCount, err := integer("count", 1, int64(maxCount))
	if err != nil {
		return req, err
	}
	req.Count = int(count)
	id, hasProbe, err := integer("probe", 0, math.MaxUint32)
	if err != nil {
		return req, err
	}
	if raw, ok := fields["duration"]; ok {
		var secs float64
		if err := json.Unmarshal(raw, &secs); err != nil || !hasProbe || secs <= 0 || secs > maxDuration.Seconds() {
			msg := fmt.Sprintf("must be seconds, more than 0 and at most %d, not %s", int(maxDuration.Seconds()), raw)
			if !hasProbe {
				msg = "only a session that streams a probe takes a duration"
			}
			return req, &FieldError{"duration", msg}
		}
		req.Duration = time.Duration(secs * float64(time.Second))
	}
	switch {
	case hasProbe:
		p := uint32(id)
		req.Probe = &p
		if !hasCount && req.Duration == 0 {
			req.Duration = defaultDuration
		}
	case !hasCount:
		return req, &FieldError{"count", "missing: the packets to emulate (or name a running probe in \"probe\")"}
	}
	return req, nil
}

// API serves the Manager over HTTP.
type API struct{ m *Manager }

// NewAPI serves m.
func NewAPI(m *Manager) *API { return &API{m: m} }

// Routes adds the Operator's routes.
func (a *API) Routes(r *httprouter.Router) {
	r.POST("/post/", a.post)
	r.GET("/sessions", a.list)
	r.GET("/sessions/:id", a.get)
	r.DELETE("/sessions/:id", a.delete)
	r.GET("/sessions/:id/segments", a.segments)
	r.GET("/sessions/:id/segments/:name", a.segment)
	r.GET("/probes", a.probes)
	r.GET("/probes/:id", a.probe)
	r.GET("/resources", a.resources)
}

// host is this box's name as the client used it, for stream locations.
func host(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		return r.Host
	}
	return h
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func (a *API) post(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body", fmt.Sprintf("larger than %d bytes", MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "body", err.Error())
		return
	}
	req, err := ParseRequest(body, a.m.cfg.MaxCount)
	if err == nil {
		var s *Session
		if s, err = a.m.Start(r.Context(), req); err == nil {
			in := s.Info(host(r))
			answer := struct {
				SessionID    string  `json:"session_id"`
				Network      string  `json:"network"`
				Probe        string  `json:"probe"`
				Stream       string  `json:"stream"`
				Segmentation *string `json:"segmentation"`
				ProbeID      uint32  `json:"probe_id"`
				Location     string  `json:"location"`
				Segments     string  `json:"segments,omitempty"`
				Session      string  `json:"session"`
			}{in.SessionID, in.Network, in.Probe, in.Stream, in.Segmentation, in.ProbeID, in.Location, "", "/sessions/" + in.SessionID}
			if in.Segments != "" {
				answer.Segments = scheme(r) + "://" + r.Host + in.Segments
			}
			writeJSON(w, http.StatusOK, answer)
			return
		}
	}
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Field, fe.Error())
	case errors.Is(err, ErrBusy):
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		a.m.log.Error("operator: starting a session", "err", err)
		writeError(w, http.StatusInternalServerError, "", err.Error())
	}
}

func sortSessions(ss []*Session) {
	sort.Slice(ss, func(i, j int) bool {
		if !ss[i].created.Equal(ss[j].created) {
			return ss[i].created.Before(ss[j].created)
		}
		return ss[i].ID < ss[j].ID
	})
}

func (a *API) list(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	out := []Info{}
	for _, s := range a.m.List() {
		out = append(out, s.Info(host(r)))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) session(w http.ResponseWriter, ps httprouter.Params) (*Session, bool) {
	s, ok := a.m.Get(ps.ByName("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no session %q (finished sessions are listed for a while, then reaped)", ps.ByName("id")))
	}
	return s, ok
}

func (a *API) get(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if s, ok := a.session(w, ps); ok {
		writeJSON(w, http.StatusOK, s.Info(host(r)))
	}
}

func (a *API) delete(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	s, ok := a.session(w, ps)
	if !ok {
		return
	}
	a.m.Delete(s.ID)
	writeJSON(w, http.StatusOK, s.Info(host(r)))
}

func (a *API) segments(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	s, ok := a.session(w, ps)
	if !ok {
		return
	}
	if s.seg == nil {
		writeError(w, http.StatusNotFound, "id", "a plain stream has no segments")
		return
	}
	type seg struct {
		SegmentInfo
		URL string `json:"url"`
	}
	out := []seg{}
	for _, si := range s.seg.Segments() {
		out = append(out, seg{si, "/sessions/" + s.ID + "/segments/" + si.Name})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) segment(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	s, ok := a.session(w, ps)
	if !ok {
		return
	}
	f, err := s.OpenSegment(ps.ByName("name"))
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, os.ErrNotExist) {
			status = http.StatusNotFound
		}
		writeError(w, status, "name", err.Error())
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="`+s.ID+"-"+fi.Name()+`"`)
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

func (a *API) probes(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, a.m.cfg.Probes.List())
}

func (a *API) probe(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, err := strconv.ParseUint(ps.ByName("id"), 10, 32)
	if err != nil {
		writeError(w, http.StatusBadRequest, "id", fmt.Sprintf("%q is not a probe id", ps.ByName("id")))
		return
	}
	st, ok := a.m.cfg.Probes.Get(uint32(id))
	if !ok {
		writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no probe %d", id))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) resources(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, a.m.Resources())
}

// duplicateKey finds a key given twice in a JSON object (encoding/json
// keeps the last silently).
func duplicateKey(body []byte) (string, bool) {
	d := json.NewDecoder(bytes.NewReader(body))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return "", false
		}
		key, _ := t.(string)
		if seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}
