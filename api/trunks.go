package api

import (
	"encoding/json"
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

// trunkKind is how the handlers every kind shares (entryKind) make, change and show trunks,
// which the routes name by name, not by extension.
var trunkKind = &entryKind[config.Trunk, trunkView]{
	noun:    "trunk",
	path:    "trunks[%d]",
	entries: func(d *config.Directory) *[]config.Trunk { return &d.Trunks },
	key:     func(t *config.Trunk) string { return t.Name },
	fresh:   func() config.Trunk { return config.Trunk{} },
	decode:  decodeTrunk,
	lookup:  lookupBy(trunkIn, toTrunkView),
}

// listTrunks answers GET /api/v1/trunks (admin).
func (s *Server) listTrunks(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, views(s.dir.Config().Trunks, toTrunkView))
}

// trunkIn finds cfg's trunk name; ok is false when there is none.
func trunkIn(cfg *config.Config, name string) (t *config.Trunk, ok bool) {
	if i := slices.IndexFunc(cfg.Trunks, func(t config.Trunk) bool { return t.Name == name }); i >= 0 {
		return &cfg.Trunks[i], true
	}
	return nil, false
}

// getTrunk answers GET /api/v1/trunks/{name} (admin).
func (s *Server) getTrunk(w http.ResponseWriter, r *http.Request, _ principal) {
	trunkKind.get(s, w, r.PathValue("name"))
}

// decodeTrunk decodes raw onto t's values. A "dids" given replaces the numbers (decoding into
// a map would add to them); one left out keeps them.
func decodeTrunk(_ *config.Directory, t *config.Trunk, raw json.RawMessage) (trunkView, error) {
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
	trunkKind.create(s, w, r, p, applyTrunk)
}

// putTrunk answers PUT /api/v1/trunks/{name} (admin) with the fields to change: 200 with the
// trunk.
func (s *Server) putTrunk(w http.ResponseWriter, r *http.Request, p principal) {
	trunkKind.put(s, w, r, p, r.PathValue("name"), applyTrunk)
}

// deleteTrunk answers DELETE /api/v1/trunks/{name} (admin): 204. Calls up through it go on.
func (s *Server) deleteTrunk(w http.ResponseWriter, r *http.Request, p principal) {
	name := r.PathValue("name")
	s.removeEntry(w, r, p, "trunk", func(d *config.Directory) error { return directory.RemoveTrunk(d, name) })
}
