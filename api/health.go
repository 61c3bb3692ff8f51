package api

import "net/http"

// healthz answers GET /healthz: 200 {"status":"ok"} while the server is serving. On a node of a
// cluster whose NATS is unreachable it answers 503 {"error":"cluster: NATS unreachable…"}: local
// calls go on, but statuses no longer reach the other nodes, so a load balancer should send
// new calls elsewhere. It needs no credentials, so load balancers and scripts can poll it.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.cluster != nil {
		if err := s.cluster.Health(); err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
