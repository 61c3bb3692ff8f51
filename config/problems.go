package config

import (
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a config file.
type Problem struct {
	// Path is the key path in the file, e.g. "queues[0].members[2]" or "sip.listen[1]";
	// "" for the file as a whole.
	Path string
	// Message says what is wrong, in words an operator can act on.
	Message string
}

// String returns "path: message", or just the message when the problem has no path.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found in one config file, in file order. Load and Parse
// return it as their error; find it with errors.As.
type Problems []Problem

// Error returns one line per problem, each "path: message", so `switchboard -check`
// can print it as is.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// finding is a Problem with the file line used to sort it; the line stays out of
// Problem so that the exported type is just what an operator reads.
type finding struct {
	Problem
	line int
}

// sorted returns the findings as Problems in file order. Problems without a line in
// the file (missing top-level keys) come first; ties keep the order they were found.
func (d *decoder) sorted() Problems {
	fs := slices.Clone(d.found)
	slices.SortStableFunc(fs, func(a, b finding) int { return a.line - b.line })
	out := make(Problems, len(fs))
	for i, f := range fs {
		out[i] = f.Problem
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// add records a problem at path. A path under one that already failed to decode is
// skipped: its value is a zero placeholder, and complaining about it would bury the
// real mistake under follow-on noise.
func (d *decoder) add(path, format string, args ...any) {
	for p := path; ; p = parent(p) {
		if d.bad[p] {
			return
		}
		if p == "" {
			break
		}
	}
	d.found = append(d.found, finding{
		Problem: Problem{Path: path, Message: fmt.Sprintf(format, args...)},
		line:    d.lineOf(path),
	})
}

// lineOf returns the file line of path, or of its nearest ancestor present in the
// file, or 0.
func (d *decoder) lineOf(path string) int {
	for p := path; p != ""; p = parent(p) {
		if l, ok := d.lines[p]; ok {
			return l
		}
	}
	return 0
}
