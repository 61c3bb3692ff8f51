package api

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
)

// groupView is a ring group as /api/v1/groups shows it and takes it.
type groupView struct {
	Ext         string   `json:"ext"`
	Name        string   `json:"name"`
	Strategy    string   `json:"strategy"` // ringall or sequential
	Members     []string `json:"members"`  // user extensions, in ringing order
	RingTimeout float64  `json:"ring_timeout"`
	Fallback    string   `json:"fallback"` // hangup, voicemail:EXT or EXT
}

func toGroupView(g *config.Group) groupView {
	members := slices.Clone(g.Members)
	if members == nil {
		members = []string{}
	}
	return groupView{Ext: g.Ext, Name: g.Name, Strategy: g.Strategy, Members: members,
		RingTimeout: seconds(g.RingTimeout), Fallback: g.Fallback}
}

// groupKind is how the handlers every kind shares (entryKind) make, change and show groups.
var groupKind = &entryKind[config.Group, groupView]{
	noun:    "group",
	path:    "groups[%d]",
	entries: func(d *config.Directory) *[]config.Group { return &d.Groups },
	key:     func(g *config.Group) string { return g.Ext },
	fresh:   config.NewGroup,
	decode: func(_ *config.Directory, g *config.Group, raw json.RawMessage) (groupView, error) {
		return onto(toGroupView(g), raw)
	},
	lookup: lookupBy((*config.Config).Group, toGroupView),
}

// listGroups answers GET /api/v1/groups (anyone signed in: the groups are the team's).
func (s *Server) listGroups(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, views(s.dir.Config().Groups, toGroupView))
}

// getGroup answers GET /api/v1/groups/{ext}.
func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, _ principal) {
	groupKind.get(s, w, r.PathValue("ext"))
}

// applyGroup sets g from v, checking what the directory's checks do not say at the group's
// own fields.
func applyGroup(d *config.Directory, g *config.Group, v groupView, self string) error {
	name, ring, err := nameAndRing(v.Name, v.RingTimeout)
	if err != nil {
		return err
	}
	if err := extAndMembers(d, v.Ext, self, v.Members); err != nil {
		return err
	}
	g.Ext, g.Name, g.Strategy, g.Members, g.RingTimeout, g.Fallback = v.Ext, name, v.Strategy, v.Members, ring, v.Fallback
	return nil
}

// createGroup answers POST /api/v1/groups (admin): 201 with the group; keys left out take a
// file's defaults. Problems are 400 naming the field ("ext", "members[1]").
func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, p principal) {
	groupKind.create(s, w, r, p, applyGroup)
}

// putGroup answers PUT /api/v1/groups/{ext} (admin) with the fields to change: 200 with the
// group. A new "ext" must be free; what led to the old one (a fallback, a trunk's number) then
// leads to it.
func (s *Server) putGroup(w http.ResponseWriter, r *http.Request, p principal) {
	groupKind.put(s, w, r, p, r.PathValue("ext"), applyGroup)
}

// deleteGroup answers DELETE /api/v1/groups/{ext} (admin): 204, or 409 while a fallback or a
// trunk's number leads to the group.
func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, p principal) {
	ext := r.PathValue("ext")
	s.removeEntry(w, r, p, "group", func(d *config.Directory) error { return directory.RemoveGroup(d, ext) })
}
