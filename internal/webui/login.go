package webui

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// loginPage shows the login form. It sets a login cookie whose value the
// form repeats: a login posted from another site carries neither.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if c, err := s.session(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		_ = c
		return
	}
	s.showLogin(w, r, http.StatusOK, "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	// Keep the nonce a login page already gave this browser: a second
	// load of /login (another tab, or the browser's own /favicon.ico
	// redirected here) must not invalidate the form open in the first.
	nonce := shipgate.NewSecret("")
	if ck, err := r.Cookie(loginCookie); err == nil && validNonce(ck.Value) {
		nonce = ck.Value
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/login", HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	s.render(w, r, nil, status, "login", map[string]any{"Title": "Log in", "Nonce": nonce, "Next": safeNext(r.FormValue("next")), "Problem": problem})
}

// login takes a user's API token (form field token) and opens a session
// standing for it: the cookie is HttpOnly, SameSite=Strict, and Secure on
// TLS. A wrong token is refused, shown and audited like the API's refusals.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, nil, shipgate.Errorf(shipgate.EINVALID, "the form cannot be read: %v", err))
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || ck.Value != r.PostForm.Get("nonce") || !sameSiteOrigin(r) {
		err := shipgate.Errorf(shipgate.EFORBIDDEN, "the login form's check value is missing or wrong: open /login and log in again")
		if aerr := s.API.AuditRefusal(r, nil, err); aerr != nil {
			s.Logger.Error("audit web UI refusal", "err", aerr)
		}
		s.showLogin(w, r, http.StatusForbidden, shipgate.ErrorMessage(err))
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		s.showLogin(w, r, http.StatusBadRequest, "Enter an API token.")
		return
	}
	u, tokenID, err := s.DB.Authenticate(r.Context(), token)
	if err != nil {
		if shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED {
			if aerr := s.API.AuditRefusal(r, nil, err); aerr != nil {
				s.Logger.Error("audit web UI refusal", "err", aerr)
			}
		} else {
			s.Logger.Error("web UI login", "err", err)
		}
		s.showLogin(w, r, statusOf(shipgate.ErrorCode(err)), shipgate.ErrorMessage(err))
		return
	}
	if !s.logins.take(u.Name, s.Now()) {
		err := shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "too many logins as %s in the last minute: wait a minute and log in again", u.Name)
		if aerr := s.API.AuditRefusal(r, u, err); aerr != nil {
			s.Logger.Error("audit web UI refusal", "err", aerr)
		}
		s.showLogin(w, r, http.StatusTooManyRequests, shipgate.ErrorMessage(err))
		return
	}
	secret := shipgate.NewSecret(shipgate.SessionPrefix)
	var sess *shipgate.Session
	err = s.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		sess, err = tx.StartSession(r.Context(), secret, u.Name, shipgate.SessionByToken, tokenID, s.SessionLifetime, remoteOf(r))
		return err
	})
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteStrictMode, Expires: sess.ExpiresAt})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1})
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// MaxLoginsPerMinute bounds the sessions one user opens a minute: each
// writes session.started to the audit log, which keeps every event for
// good, so a token alone must not let anyone flood it through /login.
const MaxLoginsPerMinute = 10

// loginPace counts each user's logins in the current minute.
type loginPace struct {
	mu     sync.Mutex
	minute time.Time
	n      map[string]int
}

// take counts a login of user at now; false past MaxLoginsPerMinute. The
// map holds only users who logged in this minute.
func (p *loginPace) take(user string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := now.Truncate(time.Minute); !m.Equal(p.minute) || p.n == nil {
		p.minute, p.n = m, map[string]int{}
	}
	if p.n[user] >= MaxLoginsPerMinute {
		return false
	}
	p.n[user]++
	return true
}

// logout ends the session on the server and clears the cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	err := s.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		return tx.EndSession(r.Context(), c.User.Name, c.Session.ID, "logout")
	})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteStrictMode})
	return redirect(w, r, "/login")
}

// validNonce reports whether v looks like a nonce showLogin made (32
// base32 characters), so a cookie of any other shape is replaced.
func validNonce(v string) bool {
	if len(v) != 32 {
		return false
	}
	for _, c := range v {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// safeNext keeps a post-login redirect on this site: a path, never
// another host (//evil.example or https://…). A backslash anywhere is
// refused: http.Redirect cleans the path, so /x/../\evil would go out as
// /\evil, which browsers read as //evil.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") || strings.HasPrefix(next, "/login") {
		return "/releases"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/releases"
	}
	return next
}

// remoteOf is the caller's address for the audit log.
func remoteOf(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
