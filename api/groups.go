package api

import (
	"fmt"
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

// listGroups answers GET /api/v1/groups (anyone signed in: the groups are the team's).
func (s *Server) listGroups(w http.ResponseWriter, _ *http.Request, _ principal) {
	cfg := s.dir.Config()
	out := make([]groupView, 0, len(cfg.Groups))
	for i := range cfg.Groups {
		out = append(out, toGroupView(&cfg.Groups[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// getGroup answers GET /api/v1/groups/{ext}.
func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, _ principal) {
	g, ok := s.dir.Config().Group(r.PathValue("ext"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such group")
		return
	}
	writeJSON(w, http.StatusOK, toGroupView(g))
}

// applyGroup sets g from v, checking what the directory's checks do not say at the group's
// own fields.
func applyGroup(d *config.Directory, g *config.Group, v groupView, self string) error {
	name, err := named(v.Name)
	if err != nil {
		return err
	}
	ring, err := duration("ring_timeout", v.RingTimeout, false)
	if err != nil {
		return err
	}
	if err := directory.ExtFree(d, v.Ext, self); err != nil {
		return own(err)
	}
	if err := directory.Members(d, v.Members); err != nil {
		return own(err)
	}
	g.Ext, g.Name, g.Strategy, g.Members, g.RingTimeout, g.Fallback = v.Ext, name, v.Strategy, v.Members, ring, v.Fallback
	return nil
}

// createGroup answers POST /api/v1/groups (admin): 201 with the group; keys left out take a
// file's defaults. Problems are 400 naming the field ("ext", "members[1]").
func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, p principal) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var at, ext string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		g := config.NewGroup()
		v := toGroupView(&g)
		if err := decodeOnto(raw, &v); err != nil {
			return err
		}
		if err := applyGroup(d, &g, v, ""); err != nil {
			return err
		}
		d.Groups = append(d.Groups, g)
		ext, at = g.Ext, fmt.Sprintf("groups[%d]", len(d.Groups)-1)
		return nil
	})
	if err != nil {
		s.answerEdit(w, r, err, at, "group")
		return
	}
	g, _ := cfg.Group(ext)
	writeJSON(w, http.StatusCreated, toGroupView(g))
}

// putGroup answers PUT /api/v1/groups/{ext} (admin) with the fields to change: 200 with the
// group. A new "ext" must be free; what leads to the old one (a fallback, a trunk's number) is
// then a problem named by its path.
func (s *Server) putGroup(w http.ResponseWriter, r *http.Request, p principal) {
	ext := r.PathValue("ext")
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var at, now string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		i := directory.GroupIndex(d, ext)
		if i < 0 {
			return directory.ErrNotFound
		}
		at = fmt.Sprintf("groups[%d]", i)
		v := toGroupView(&d.Groups[i])
		if err := decodeOnto(raw, &v); err != nil {
			return err
		}
		now = v.Ext
		return applyGroup(d, &d.Groups[i], v, ext)
	})
	if err != nil {
		s.answerEdit(w, r, err, at, "group")
		return
	}
	g, _ := cfg.Group(now)
	writeJSON(w, http.StatusOK, toGroupView(g))
}

// deleteGroup answers DELETE /api/v1/groups/{ext} (admin): 204, or 409 while a fallback or a
// trunk's number leads to the group.
func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, p principal) {
	ext := r.PathValue("ext")
	_, err := s.dir.Update(p.ext, func(d *config.Directory) error { return directory.RemoveGroup(d, ext) })
	if err != nil {
		s.answerEdit(w, r, err, "", "group")
		return
	}
	noContent(w)
}
