package traffic

import (
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"edgestat/probe"
	"edgestat/server/probes"
)

// ErrorCode is MMT-Operator's code for a bad request.
const ErrorCode = 1102

// MaxBody bounds a POST /traffic/reports body.
const MaxBody = 8 << 20

// Service serves the traffic API over a Store and a Hub.
type Service struct {
	store  *Store
	hub    *Hub
	probes *probes.Registry
	log    *slog.Logger
}

// NewService serves st and hub; /traffic/status lists the probes of reg.
func NewService(st *Store, hub *Hub, reg *probes.Registry, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if reg == nil {
		reg = probes.New()
	}
	return &Service{store: st, hub: hub, probes: reg, log: log}
}

// Routes adds the traffic API to r.
func (sv *Service) Routes(r *httprouter.Router) {
	r.GET("/traffic/data", sv.data)
	r.POST("/traffic/reports", sv.reports)
	r.GET("/traffic/hosts", sv.topHosts)
	r.GET("/traffic/protocols", sv.topProtocols)
	r.GET("/traffic/series", sv.series)
	r.GET("/traffic/status", sv.status)
	for _, p := range []string{"/traffic/data", "/traffic/reports", "/traffic/hosts", "/traffic/protocols", "/traffic/series", "/traffic/status"} {
		r.OPTIONS(p, preflight)
	}
	if sv.hub != nil {
		r.GET("/traffic/live", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) { sv.hub.ServeLive(w, r) })
		r.GET("/socket.io/", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) { sv.hub.ServeSocketIO(w, r) })
	}
}

// The MMT-Operator page ran on another origin; the original server
// answered every origin.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length")
}

func preflight(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	cors(w)
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

type apiError struct {
	Error struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeCodedError(w, status, ErrorCode, msg)
}

// writeCodedError answers in MMT-Operator's error shape with a code.
func writeCodedError(w http.ResponseWriter, status, code int, msg string) {
	var e apiError
	e.Error.Message, e.Error.Code = msg, code
	writeJSON(w, nil, status, e)
}

// failed answers an error of a handler: a ParamError is the client's
// fault (400), anything else ours (500, logged).
func (sv *Service) failed(w http.ResponseWriter, r *http.Request, err error) {
	var pe *ParamError
	switch {
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, pe.Error())
	case errors.Is(err, context.Canceled):
	default:
		sv.log.Error("traffic: request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error, see the server log")
	}
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, r, status, b)
}

// writeBody sends a JSON body, gzipped when it is large and the client
// takes gzip (a month of reports is megabytes of repetitive text).
func writeBody(w http.ResponseWriter, r *http.Request, status int, b []byte) {
	cors(w)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	if r != nil && len(b) > 8<<10 && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			if name, _, _ := strings.Cut(strings.TrimSpace(part), ";"); strings.EqualFold(name, "gzip") {
				return true
			}
		}
	}
	return false
}

// data is GET /traffic/data, MMT-Operator's interface.
func (sv *Service) data(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	res, err := sv.store.Query(r.Context(), q)
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	b := make([]byte, 0, 64+len(res.Rows)*96)
	b = append(b, '[')
	for i, row := range res.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		if q.Raw {
			b = row.AppendJSON(b)
		} else {
			b = AppendObject(b, row)
		}
	}
	b = append(b, ']')
	writeBody(w, r, http.StatusOK, b)
}

// reports is POST /traffic/reports: MMT rows from other probes.
func (sv *Service) reports(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.Itoa(MaxBody)+" bytes: send fewer reports per request")
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	rows, lines, errs, bad := ParseReports(body)
	good := rows[:0]
	for i, row := range rows {
		if err := sv.store.Check(row); err != nil {
			bad++
			if len(errs) < maxLineErrors {
				errs = append(errs, LineError{lines[i], err.Error()})
			}
			continue
		}
		good = append(good, row)
	}
	slices.SortStableFunc(errs, func(a, b LineError) int { return cmp.Compare(a.Line, b.Line) })
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	n, err := sv.store.Ingest(ctx, good)
	// "stored" is durable: the answer waits for the commit that holds
	// these reports (concurrent POSTs share it), unless ?wait=0.
	wait := r.URL.Query().Get("wait") != "0"
	var waitErr error
	if err == nil && n > 0 && wait {
		waitErr = sv.store.WaitWritten(ctx, sv.store.Accepted())
	}
	type answer struct {
		Stored   int         `json:"stored"`
		Accepted int         `json:"accepted"`
		Rejected int         `json:"rejected"`
		Errors   []LineError `json:"errors"`
		Message  string      `json:"message,omitempty"`
	}
	a := answer{Stored: n, Accepted: n, Rejected: bad, Errors: errs}
	if !wait || waitErr != nil {
		a.Stored = 0
	}
	if a.Errors == nil {
		a.Errors = []LineError{}
	}
	status := http.StatusOK
	switch {
	case err != nil:
		// The database did not keep up: what was taken is kept, the rest
		// is the client's to send again.
		a.Stored = 0
		status = http.StatusServiceUnavailable
		a.Message = "the store is busy: " + strconv.Itoa(len(good)-n) + " good reports were not taken; send them again"
	case waitErr != nil:
		status = http.StatusServiceUnavailable
		a.Message = "the reports were accepted but are not written yet (the database is failing or slow, see /healthz): they are written when it can; they are lost only if the box stops before"
	case !wait && n > 0:
		status = http.StatusAccepted
		a.Message = "accepted, not yet written: the next batch writes them (--flush-interval at most)"
	case n == 0 && bad > 0:
		status = http.StatusBadRequest
		a.Message = "no report could be read"
	case n == 0:
		status = http.StatusBadRequest
		a.Message = "the body holds no report"
	}
	writeJSON(w, r, status, a)
}

// commonQuery reads the parameters the summary APIs share with
// /traffic/data, for one format.
func commonQuery(r *http.Request, format int) (Query, error) {
	v := r.URL.Query()
	v.Del("format")
	v.Del("raw")
	q, err := ParseQuery(v)
	q.Format = format
	return q, err
}

func limitParam(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		return 0, paramErr("limit", "%q is not a number from 1 to 10000", s)
	}
	return n, nil
}

type window struct {
	Period   string `json:"period"`
	From     int64  `json:"from"`      // ms, first report or bucket start
	To       int64  `json:"to"`        // ms, last report or bucket start
	BucketMS int64  `json:"bucket_ms"` // 0 for raw reports
}

func windowOf(q Query, res Result) window {
	return window{Period: q.Period.Name, From: res.From, To: res.To, BucketMS: q.Period.BucketMS()}
}

// TopHost is one LAN host's traffic over a period.
type TopHost struct {
	MAC        string `json:"mac"`
	IP         string `json:"ip"`
	OutBytes   uint64 `json:"out_bytes"`
	InBytes    uint64 `json:"in_bytes"`
	OutPackets uint64 `json:"out_packets"`
	InPackets  uint64 `json:"in_packets"`
}

// topHosts is GET /traffic/hosts: LAN hosts by bytes over a period.
func (sv *Service) topHosts(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	q, err := commonQuery(r, probe.FormatHosts)
	if err == nil {
		var limit int
		if limit, err = limitParam(r, 20); err == nil {
			var res Result
			if res, err = sv.store.Query(r.Context(), q); err == nil {
				type key struct {
					mac [6]byte
					ip  netip.Addr
				}
				sums := map[key]*TopHost{}
				for _, row := range res.Rows {
					h := row.(*probe.HostRow)
					k := key{h.MAC, h.IP}
					t := sums[k]
					if t == nil {
						t = &TopHost{MAC: macText(h.MAC), IP: addrText(h.IP)}
						sums[k] = t
					}
					t.OutBytes, t.InBytes = t.OutBytes+h.OutBytes, t.InBytes+h.InBytes
					t.OutPackets, t.InPackets = t.OutPackets+h.OutPackets, t.InPackets+h.InPackets
				}
				hosts := make([]TopHost, 0, len(sums))
				for _, t := range sums {
					hosts = append(hosts, *t)
				}
				slices.SortFunc(hosts, func(a, b TopHost) int {
					return cmp.Or(cmp.Compare(b.OutBytes+b.InBytes, a.OutBytes+a.InBytes), cmp.Compare(a.IP, b.IP), cmp.Compare(a.MAC, b.MAC))
				})
				writeJSON(w, r, http.StatusOK, struct {
					window
					Hosts []TopHost `json:"hosts"`
				}{windowOf(q, res), hosts[:min(limit, len(hosts))]})
				return
			}
		}
	}
	sv.failed(w, r, err)
}

// TopProtocol is one protocol path's (or application's) traffic.
type TopProtocol struct {
	Path        string `json:"path,omitempty"`
	App         uint32 `json:"app"`
	Name        string `json:"name"`
	Bytes       uint64 `json:"bytes"`
	Payload     uint64 `json:"payload"`
	Packets     uint64 `json:"packets"`
	ActiveFlows uint64 `json:"active_flows"` // the most seen at once in one report or bucket
}

// topProtocols is GET /traffic/protocols: paths (by=path) or applications
// (by=app) by bytes over a period.
func (sv *Service) topProtocols(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	q, err := commonQuery(r, probe.FormatStats)
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	limit, err := limitParam(r, 50)
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "path"
	}
	if by != "path" && by != "app" {
		sv.failed(w, r, paramErr("by", "%q is not path or app", by))
		return
	}
	res, err := sv.store.Query(r.Context(), q)
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	sums := map[string]*TopProtocol{}
	for _, row := range res.Rows {
		s := row.(*probe.StatRow)
		k := s.Path
		if by == "app" {
			k = strconv.FormatUint(uint64(s.App), 10)
		}
		t := sums[k]
		if t == nil {
			t = &TopProtocol{App: s.App, Name: probe.ProtocolName(s.App)}
			if by == "path" {
				t.Path, t.Name = s.Path, probe.PathName(s.Path)
			}
			sums[k] = t
		}
		t.Bytes, t.Payload, t.Packets = t.Bytes+s.Bytes, t.Payload+s.Payload, t.Packets+s.Packets
		t.ActiveFlows = max(t.ActiveFlows, s.ActiveFlows)
	}
	items := make([]TopProtocol, 0, len(sums))
	for _, t := range sums {
		items = append(items, *t)
	}
	slices.SortFunc(items, func(a, b TopProtocol) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Path, b.Path), cmp.Compare(a.App, b.App))
	})
	writeJSON(w, r, http.StatusOK, struct {
		window
		By    string        `json:"by"`
		Items []TopProtocol `json:"items"`
	}{windowOf(q, res), by, items[:min(limit, len(items))]})
}

// series is GET /traffic/series?path=...: one path over a period, summed
// over the selected sources: points [time, bytes, payload, packets,
// active_flows].
func (sv *Service) series(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	q, err := commonQuery(r, probe.FormatStats)
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	path := r.URL.Query().Get("path")
	if err := checkPath(0, path, false); err != nil {
		sv.failed(w, r, paramErr("path", "%q is not dotted protocol ids such as 99.178.354", path))
		return
	}
	res, err := sv.store.Query(r.Context(), q)
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	var points [][5]uint64
	for _, row := range res.Rows { // ordered by time
		s := row.(*probe.StatRow)
		if s.Path != path {
			continue
		}
		if n := len(points); n > 0 && points[n-1][0] == uint64(s.Time) {
			p := &points[n-1]
			p[1], p[2], p[3], p[4] = p[1]+s.Bytes, p[2]+s.Payload, p[3]+s.Packets, p[4]+s.ActiveFlows
			continue
		}
		points = append(points, [5]uint64{uint64(s.Time), s.Bytes, s.Payload, s.Packets, s.ActiveFlows})
	}
	if points == nil {
		points = [][5]uint64{}
	}
	writeJSON(w, r, http.StatusOK, struct {
		window
		Path   string      `json:"path"`
		Name   string      `json:"name"`
		Points [][5]uint64 `json:"points"`
	}{windowOf(q, res), path, probe.PathName(path), points})
}

// status is GET /traffic/status: the probes, the store and the live hub.
func (sv *Service) status(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	wear := sv.store.st.Wear()
	used, file, err := sv.store.st.Size(r.Context())
	if err != nil {
		sv.failed(w, r, err)
		return
	}
	type storeStatus struct {
		Counters
		DBBytes      int64  `json:"db_bytes"`   // pages in use
		FileBytes    int64  `json:"file_bytes"` // the file, free pages included
		MaxDBBytes   int64  `json:"max_db_bytes"`
		WrittenToday uint64 `json:"written_today"` // bytes written to storage today (UTC)
		WrittenSince uint64 `json:"written_since_start"`
	}
	var live any
	if sv.hub != nil {
		l, s := sv.hub.Clients()
		live = struct {
			HubStats
			Live     int `json:"live_clients"`
			SocketIO int `json:"socketio_clients"`
		}{sv.hub.Stats(), l, s}
	}
	writeJSON(w, r, http.StatusOK, struct {
		Probes []probes.Status `json:"probes"`
		Store  storeStatus     `json:"store"`
		Live   any             `json:"live"`
	}{sv.probes.List(), storeStatus{sv.store.Counters(), used, file, sv.store.cfg.MaxDBBytes, wear.Today, wear.SinceStart}, live})
}
