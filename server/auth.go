package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgestat/server/rtstat"
)

// With --auth-token every route but a few needs the token: as
// "Authorization: Bearer TOKEN", as the cookie the login page sets, or (for
// WebSocket clients that cannot set headers) as ?token=TOKEN on the upgrade.
const (
	cookieName = "edgestat_session"
	// cookieAge keeps a browser logged in for a month.
	cookieAge = 30 * 24 * time.Hour

	// After failWindowMax wrong tokens within failWindow an address gets 429
	// until the window has passed: a token guessed at 10 a minute is safe.
	failWindow    = time.Minute
	failWindowMax = 10
	maxFailAddrs  = 4096
)

// openPaths need no token: the probe for load balancers and supervisors,
// and the login page itself.
var openPaths = map[string]bool{"/healthz": true, "/login": true, "/logout": true}

// auth guards an http.Handler with the token.
type auth struct {
	token  []byte
	cookie string // the cookie's value: derived from the token, never the token
	fails  failLimiter
	now    func() time.Time
}

func newAuth(token string) *auth {
	if token == "" {
		return nil
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("edgestat session v1"))
	return &auth{token: []byte(token), cookie: hex.EncodeToString(mac.Sum(nil)), now: time.Now}
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
	// A wrong cookie is not a guess (it is an HMAC nobody types): a stale one,
	// after the token changed, must not get the browser rate-limited.
	if c, err := r.Cookie(cookieName); err == nil && equal(c.Value, a.cookie) {
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
		if wait := a.fails.blocked(ip, a.now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeCodedError(w, http.StatusTooManyRequests, "too many wrong tokens from this address; try again later")
			return
		}
		how := a.credential(r)
		switch how {
		case "wrong":
			a.fails.fail(ip, a.now())
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

// safeNext keeps a redirect after login on this box.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
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
		if wait := a.fails.blocked(ip, a.now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			loginPage(w, http.StatusTooManyRequests, next, "Too many wrong tokens from this address. Try again in a minute.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if !equal(r.PostFormValue("token"), string(a.token)) {
			a.fails.fail(ip, a.now())
			loginPage(w, http.StatusUnauthorized, next, "That is not this box's token.")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: cookieName, Value: a.cookie, Path: "/", MaxAge: int(cookieAge.Seconds()),
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

// failLimiter counts wrong tokens per address over a fixed window, bounded.
type failLimiter struct {
	mu    sync.Mutex
	addrs map[netip.Addr]*failCount
}

type failCount struct {
	start time.Time
	n     int
}

func (l *failLimiter) fail(a netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs == nil {
		l.addrs = make(map[netip.Addr]*failCount)
	}
	c := l.addrs[a]
	if c == nil || now.Sub(c.start) > failWindow {
		if c == nil && len(l.addrs) >= maxFailAddrs {
			for k, v := range l.addrs {
				if now.Sub(v.start) > failWindow {
					delete(l.addrs, k)
				}
			}
			if len(l.addrs) >= maxFailAddrs {
				// Thousands of addresses guessing at once: count them all as
				// one, so the table stays bounded and they are still slowed.
				a = netip.IPv6Unspecified()
				if c = l.addrs[a]; c != nil && now.Sub(c.start) <= failWindow {
					c.n++
					return
				}
			}
		}
		c = &failCount{start: now}
		l.addrs[a] = c
	}
	c.n++
}

// blocked is how long a is still refused (0: not refused).
func (l *failLimiter) blocked(a netip.Addr, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.addrs[a]
	if c == nil {
		c = l.addrs[netip.IPv6Unspecified()]
	}
	if c == nil || c.n < failWindowMax {
		return 0
	}
	if left := failWindow - now.Sub(c.start); left > 0 {
		return left
	}
	return 0
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
