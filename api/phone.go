package api

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PhoneCredentials issues the short-lived SIP credentials the web phone registers with (so the
// user's password never sits in the page); sip/token's Keyring implements it.
type PhoneCredentials interface {
	Issue(ext string, ttl time.Duration) (user, password string, expires time.Time)
}

// phoneCredentialTTL is how long a web phone's credential lasts. The page fetches a fresh one
// whenever registration fails, so it only needs to outlast one registration interval.
const phoneCredentialTTL = 12 * time.Hour

// phoneConfig is what GET /api/v1/phone gives the page to start its SIP client.
type phoneConfig struct {
	Ext               string    `json:"ext"`
	DisplayName       string    `json:"display_name"`
	Domain            string    `json:"domain"`
	WSServers         []string  `json:"ws_servers"`
	AuthorizationUser string    `json:"authorization_user"`
	Password          string    `json:"password"`
	Expires           time.Time `json:"expires"`
}

// getPhone answers GET /api/v1/phone: the signed-in user's web phone settings with a fresh
// credential. Listeners bound to every interface are named by the host the page was loaded
// from; a page on https gets only wss servers (browsers refuse ws from a secure page).
func (s *Server) getPhone(w http.ResponseWriter, r *http.Request, p principal) {
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	var servers []string
	for _, raw := range s.phoneSockets {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if r.TLS != nil && u.Scheme != "wss" {
			continue
		}
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
			u.Host = net.JoinHostPort(host, u.Port())
		}
		servers = append(servers, u.String())
	}
	user, password, expires := s.phoneCreds.Issue(p.ext, phoneCredentialTTL)
	writeJSON(w, http.StatusOK, phoneConfig{
		Ext: p.ext, DisplayName: s.me(p).Name, Domain: host, WSServers: servers,
		AuthorizationUser: user, Password: password, Expires: expires.UTC(),
	})
}
