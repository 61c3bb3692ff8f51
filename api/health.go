package api

import "net/http"

// healthz answers GET /healthz: 200 {"status":"ok"} while the server is
// serving. It needs no credentials, so load balancers and scripts can poll it.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
