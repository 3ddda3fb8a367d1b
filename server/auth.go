package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgestat/server/guard"
	"edgestat/server/rtstat"
)

// With --auth-token every route but a few needs the token: as
// "Authorization: Bearer TOKEN", as the cookie the login page sets, or (for
// WebSocket clients that cannot set headers) as ?token=TOKEN on the upgrade.
const (
	cookieName = "edgestat_session"
	// cookieAge keeps a browser logged in for a month.
	cookieAge = 30 * 24 * time.Hour
)

// openPaths need no token: the probe for load balancers and supervisors,
// and the login page itself.
var openPaths = map[string]bool{"/healthz": true, "/login": true, "/logout": true}

// auth guards an http.Handler with the token.
type auth struct {
	token    []byte
	sessions sessions // the logins: what the cookie holds
	// fails counts wrong tokens per source, with Rt-Stat's auth:: (after
	// guard.MaxFails in a minute a source gets 429 until the minute ends).
	fails *guard.Limiter
	now   func() time.Time
}

func newAuth(token string, fails *guard.Limiter) *auth {
	if token == "" {
		return nil
	}
	if fails == nil {
		fails = &guard.Limiter{}
	}
	return &auth{token: []byte(token), fails: fails, now: time.Now}
}

// maxSessions bounds the logins kept; past it the oldest ends.
const maxSessions = 1024

// sessions are the logins of this process: a random id per login, known
// only here. Logging out ends one; a restart (as with a new token) ends
// them all, so a cookie never outlives the token it was given for.
type sessions struct {
	mu  sync.Mutex
	ids map[string]time.Time // id -> expiry
}

// start makes a login lasting cookieAge and returns its id.
func (s *sessions) start(now time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("server: random session id: %v", err)) // crypto/rand does not fail on Linux
	}
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]time.Time)
	}
	if len(s.ids) >= maxSessions {
		oldest := ""
		for k, exp := range s.ids {
			if oldest == "" || exp.Before(s.ids[oldest]) {
				oldest = k
			}
		}
		delete(s.ids, oldest)
	}
	s.ids[id] = now.Add(cookieAge)
	return id
}

// valid reports whether id is a login that has not ended.
func (s *sessions) valid(id string, now time.Time) bool {
	if len(id) != 32 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.ids[id]
	if ok && !now.Before(exp) {
		delete(s.ids, id)
		return false
	}
	return ok
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

// equal compares in constant time (for equal lengths; the length of a
// wrong guess is all a timing attacker learns).
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// credential says how a request proved itself: "bearer", "cookie",
// "query", "" (nothing offered) or "wrong" (something offered, not the token).
func (a *auth) credential(r *http.Request) string {
	offered := false
	if h := r.Header.Get("Authorization"); h != "" {
		offered = true
		if t, ok := strings.CutPrefix(h, "Bearer "); ok && equal(t, string(a.token)) {
			return "bearer"
		}
	}
	// A wrong cookie is not a guess (a random id nobody types): a stale one,
	// after a logout or a restart, must not get the browser rate-limited.
	if c, err := r.Cookie(cookieName); err == nil && a.sessions.valid(c.Value, a.now()) {
		return "cookie"
	}
	if rtstat.IsWebSocket(r) && r.URL.Query().Has("token") {
		offered = true
		if equal(r.URL.Query().Get("token"), string(a.token)) {
			return "query"
		}
	}
	if offered {
		return "wrong"
	}
	return ""
}

// wrap returns next behind the token.
func (a *auth) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/login":
			a.login(w, r)
			return
		case r.URL.Path == "/logout":
			a.logout(w, r)
			return
		case openPaths[r.URL.Path]:
			next.ServeHTTP(w, r)
			return
		}
		ip := remoteAddrIP(r.RemoteAddr)
		rtstatWS := r.URL.Path == "/" && rtstat.IsWebSocket(r)
		if wait := a.fails.Blocked(ip, a.now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeCodedError(w, http.StatusTooManyRequests, "too many wrong tokens from this address; try again later")
			return
		}
		how := a.credential(r)
		switch how {
		case "wrong":
			a.fails.Fail(ip, a.now())
		case "cookie":
			// A cookie rides along with any site's request: a WebSocket
			// authenticated by it must come from our own pages.
			if rtstat.IsWebSocket(r) && !sameOrigin(r) {
				writeCodedError(w, http.StatusForbidden, "cross-site WebSocket refused: the Origin is not this box")
				return
			}
		}
		if rtstatWS {
			// The Rt-Stat endpoint takes any Origin and keeps its own auth
			// command; a valid credential on the upgrade authorizes it at once.
			if how == "bearer" || how == "cookie" || how == "query" {
				r = r.WithContext(rtstat.WithPreauthorized(r.Context()))
			}
			next.ServeHTTP(w, r)
			return
		}
		if how == "" || how == "wrong" {
			a.deny(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// deny sends a browser's page load to the login page and anything else a 401.
func (a *auth) deny(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && !rtstat.IsWebSocket(r) && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="edgestat"`)
	writeCodedError(w, http.StatusUnauthorized, "this box needs its token: Authorization: Bearer TOKEN, the login cookie, or ?token= on a WebSocket")
}

// sameOrigin reports whether a request's Origin names the host it was sent
// to (no Origin: not a browser, so no cross-site riding on a cookie).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// safeNext keeps a redirect after login on this box: a path of its own,
// else "/". Browsers drop tabs and newlines from a URL and read a
// backslash as a slash, so "/\t/evil.example" would leave the box as
// "//evil.example": a next holding any of them, or any control byte, or
// parsing to another host or scheme, is refused.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.FormValue("next"))
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		loginPage(w, http.StatusOK, next, "")
	case http.MethodPost:
		ip := remoteAddrIP(r.RemoteAddr)
		if wait := a.fails.Blocked(ip, a.now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			loginPage(w, http.StatusTooManyRequests, next, "Too many wrong tokens from this address. Try again in a minute.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if !equal(r.PostFormValue("token"), string(a.token)) {
			a.fails.Fail(ip, a.now())
			loginPage(w, http.StatusUnauthorized, next, "That is not this box's token.")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: cookieName, Value: a.sessions.start(a.now()), Path: "/", MaxAge: int(cookieAge.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || isTLS(r),
		})
		http.Redirect(w, r, next, http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeCodedError(w, http.StatusMethodNotAllowed, "GET or POST")
	}
}

func (a *auth) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeCodedError(w, http.StatusMethodNotAllowed, "POST to log out")
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		a.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// loginPage is the one page served without the token: no scripts, no
// external anything.
func loginPage(w http.ResponseWriter, code int, next, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	errHTML := ""
	if msg != "" {
		errHTML = `<p class="err" role="alert">` + html.EscapeString(msg) + `</p>`
	}
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">
<title>Log in · edgestat</title><style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;min-height:100vh;display:grid;place-items:center;background:Canvas;color:CanvasText}
form{display:grid;gap:12px;width:min(22rem,90vw);padding:24px;border:1px solid #8884;border-radius:8px}
h1{font-size:20px;margin:0}input,button{font:inherit;padding:6px 10px;border-radius:6px;border:1px solid #8888}
button{background:#2563eb;color:#fff;border-color:#2563eb;cursor:pointer}.err{color:#c0262d;margin:0}p{margin:0}
</style></head><body><form method="post" action="/login"><h1>edgestat</h1>
<p>This box needs its token (<code>--auth-token</code>).</p>` + errHTML + `
<input type="hidden" name="next" value="` + html.EscapeString(next) + `">
<input type="password" name="token" autocomplete="current-password" aria-label="Token" placeholder="Token" required autofocus>
<button type="submit">Log in</button></form></body></html>`))
}

// remoteAddrIP is the address part of an http.Request's RemoteAddr.
func remoteAddrIP(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(remote); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// writeCodedError answers in the error shape of the traffic APIs.
func writeCodedError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "code": code}})
}
