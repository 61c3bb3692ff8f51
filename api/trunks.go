package api

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
)

// trunkView is a trunk as /api/v1/trunks shows and takes it. Admins only: its addresses say
// where the switch's carrier is and whom it trusts without a password.
type trunkView struct {
	Name           string            `json:"name"`
	Allow          []string          `json:"allow"` // source addresses or networks
	DIDs           map[string]string `json:"dids"`  // number dialled at the trunk → extension
	Outbound       string            `json:"outbound"`
	OutboundPrefix string            `json:"outbound_prefix"`
}

func toTrunkView(t *config.Trunk) trunkView {
	v := trunkView{Name: t.Name, Allow: slices.Clone(t.Allow), DIDs: maps.Clone(t.DIDs),
		Outbound: t.Outbound, OutboundPrefix: t.OutboundPrefix}
	if v.Allow == nil {
		v.Allow = []string{}
	}
	if v.DIDs == nil {
		v.DIDs = map[string]string{}
	}
	return v
}

// listTrunks answers GET /api/v1/trunks (admin).
func (s *Server) listTrunks(w http.ResponseWriter, _ *http.Request, _ principal) {
	cfg := s.dir.Config()
	out := make([]trunkView, 0, len(cfg.Trunks))
	for i := range cfg.Trunks {
		out = append(out, toTrunkView(&cfg.Trunks[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// trunkIn is cfg's trunk name, or nil.
func trunkIn(cfg *config.Config, name string) *config.Trunk {
	if i := slices.IndexFunc(cfg.Trunks, func(t config.Trunk) bool { return t.Name == name }); i >= 0 {
		return &cfg.Trunks[i]
	}
	return nil
}

// getTrunk answers GET /api/v1/trunks/{name} (admin).
func (s *Server) getTrunk(w http.ResponseWriter, r *http.Request, _ principal) {
	t := trunkIn(s.dir.Config(), r.PathValue("name"))
	if t == nil {
		writeError(w, http.StatusNotFound, "no such trunk")
		return
	}
	writeJSON(w, http.StatusOK, toTrunkView(t))
}

// decodeTrunk decodes raw onto t's values. A "dids" given replaces the numbers (decoding into
// a map would add to them); one left out keeps them.
func decodeTrunk(raw []byte, t *config.Trunk) (trunkView, error) {
	v := toTrunkView(t)
	old := v.DIDs
	v.DIDs = nil
	if err := decodeOnto(raw, &v); err != nil {
		return v, err
	}
	if v.DIDs == nil {
		v.DIDs = old
	}
	return v, nil
}

// applyTrunk sets t from v; self is its current name ("" for a new one).
func applyTrunk(d *config.Directory, t *config.Trunk, v trunkView, self string) error {
	v.Name = strings.TrimSpace(v.Name)
	if v.Name != self && directory.TrunkIndex(d, v.Name) >= 0 {
		return refuse("name", "a trunk named %q exists", v.Name)
	}
	t.Name, t.Allow, t.DIDs, t.Outbound, t.OutboundPrefix = v.Name, v.Allow, v.DIDs, v.Outbound, v.OutboundPrefix
	return nil
}

// createTrunk answers POST /api/v1/trunks (admin): 201 with the trunk. Problems are 400
// naming the field ("allow[1]", "dids.+15550100").
func (s *Server) createTrunk(w http.ResponseWriter, r *http.Request, p principal) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var at, name string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		var t config.Trunk
		v, err := decodeTrunk(raw, &t)
		if err != nil {
			return err
		}
		if err := applyTrunk(d, &t, v, ""); err != nil {
			return err
		}
		d.Trunks = append(d.Trunks, t)
		name, at = t.Name, fmt.Sprintf("trunks[%d]", len(d.Trunks)-1)
		return nil
	})
	if err != nil {
		s.answerEdit(w, r, err, at, "trunk")
		return
	}
	writeJSON(w, http.StatusCreated, toTrunkView(trunkIn(cfg, name)))
}

// putTrunk answers PUT /api/v1/trunks/{name} (admin) with the fields to change: 200 with the
// trunk.
func (s *Server) putTrunk(w http.ResponseWriter, r *http.Request, p principal) {
	name := r.PathValue("name")
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var at, now string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		i := directory.TrunkIndex(d, name)
		if i < 0 {
			return directory.ErrNotFound
		}
		at = fmt.Sprintf("trunks[%d]", i)
		v, err := decodeTrunk(raw, &d.Trunks[i])
		if err != nil {
			return err
		}
		now = strings.TrimSpace(v.Name)
		return applyTrunk(d, &d.Trunks[i], v, name)
	})
	if err != nil {
		s.answerEdit(w, r, err, at, "trunk")
		return
	}
	writeJSON(w, http.StatusOK, toTrunkView(trunkIn(cfg, now)))
}

// deleteTrunk answers DELETE /api/v1/trunks/{name} (admin): 204. Calls up through it go on.
func (s *Server) deleteTrunk(w http.ResponseWriter, r *http.Request, p principal) {
	name := r.PathValue("name")
	_, err := s.dir.Update(p.ext, func(d *config.Directory) error { return directory.RemoveTrunk(d, name) })
	if err != nil {
		s.answerEdit(w, r, err, "", "trunk")
		return
	}
	noContent(w)
}
