package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxDepth bounds recursion so that a self-referencing YAML alias cannot loop forever;
// real configs nest four levels deep.
const maxDepth = 32

// decoder fills a Config from a yaml.Node by walking it against the struct's yaml
// tags. yaml.v3's own Decode stops at the first unknown key (with KnownFields) and
// reports type errors without key paths; walking the tree ourselves lets us name the
// path of every problem and keep going after one.
type decoder struct {
	found []finding
	// lines holds every key path present in the file with a non-null value, and its
	// line; applyDefaults uses it to tell "absent" from "set to zero".
	lines map[string]int
	// bad holds paths whose value could not be decoded, to silence follow-on problems.
	bad map[string]bool
}

func newDecoder() *decoder {
	return &decoder{lines: map[string]int{}, bad: map[string]bool{}}
}

// fail records a decoding problem at path with the line of node n, and marks the path
// bad so validation does not also complain about the zero value left behind.
func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	d.bad[path] = true
	d.found = append(d.found, finding{
		Problem: Problem{Path: path, Message: fmt.Sprintf(format, args...) + fmt.Sprintf(" (line %d)", n.Line)},
		line:    n.Line,
	})
}

// documentBody returns the top node of the first YAML document, or nil for an empty
// file.
func documentBody(root *yaml.Node) *yaml.Node {
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		return root.Content[0]
	}
	if root.Kind == 0 {
		return nil
	}
	return root
}

// reflectValue returns the settable value behind a pointer.
func reflectValue(p any) reflect.Value {
	return reflect.ValueOf(p).Elem()
}

// decode stores node n into v. allowZero lets a duration be 0 (tag check:"allowzero").
func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value, allowZero bool, depth int) {
	if depth > maxDepth {
		d.fail(path, n, "nested too deeply (recursive alias?)")
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		// An empty value means "use the default", as if the key were absent.
		return
	}
	d.lines[path] = n.Line

	if v.Type() == reflect.TypeFor[time.Duration]() {
		d.duration(path, n, v, allowZero)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(path, n, p.Elem(), allowZero, depth+1)
		if !d.bad[path] {
			v.Set(p)
		}
	case reflect.String:
		// Any scalar will do, so `ext: 1001` works without quotes; Value keeps the text
		// as written (leading zeros included).
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		// Only YAML 1.2 booleans: "yes"/"on" are strings, and a typo such as "ture"
		// must not read as false.
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || err != nil {
			d.fail(path, n, "want a boolean (true or false), got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil {
			d.fail(path, n, "want a whole number, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if t := n.ShortTag(); n.Kind != yaml.ScalarNode || t != "!!int" && t != "!!float" || err != nil {
			d.fail(path, n, "want a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			d.decode(index(path, i), e, s.Index(i), allowZero, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		d.mapping(path, n, v, depth)
	case reflect.Struct:
		d.structure(path, n, v, depth)
	default:
		// Only reachable if a field of an unsupported type is added to Config.
		d.fail(path, n, "internal error: cannot decode into %s", v.Type())
	}
}

// duration parses a Go duration ("20s", "5m"); zero is refused unless allowZero,
// since a zero timeout would end calls before they start.
func (d *decoder) duration(path string, n *yaml.Node, v reflect.Value, allowZero bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n, "want a duration such as \"20s\" or \"5m\", got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		d.fail(path, n, "want a duration such as \"20s\" or \"5m\", got %q", n.Value)
		return
	case dur < 0:
		d.fail(path, n, "must not be negative, got %q", n.Value)
		return
	case dur == 0 && !allowZero:
		d.fail(path, n, "must be greater than 0, got %q", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// mapping decodes a map[string]T; keys become path components (dids.15551230000).
func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value, depth int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "want a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k, "want plain keys, got %s", describe(k))
			continue
		}
		p := field(path, k.Value)
		if line, dup := first[k.Value]; dup {
			d.fail(p, k, "duplicate key, first set on line %d", line)
			continue
		}
		first[k.Value] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p, val, elem, false, depth+1)
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
}

// structure decodes a mapping into a struct, field by yaml tag. Unknown and duplicate
// keys are problems: a typo in a key would otherwise silently leave the default.
// YAML merge keys (<<: *anchor) are honoured, with the mapping's own keys winning;
// top-level keys starting with "x-" are ignored so that anchors have somewhere to live.
func (d *decoder) structure(path string, n *yaml.Node, v reflect.Value, depth int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "want a mapping, got %s", describe(n))
		return
	}
	fields, names := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(path, n.Content[i+1], v, depth)
		}
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k, "want plain keys, got %s", describe(k))
			continue
		}
		p := field(path, k.Value)
		if line, dup := first[k.Value]; dup {
			d.fail(p, k, "duplicate key, first set on line %d", line)
			continue
		}
		first[k.Value] = k.Line
		if path == "" && strings.HasPrefix(k.Value, "x-") {
			// Top-level "x-" keys are the operator's own (as in Docker Compose): a
			// place to define YAML anchors for merging into users, groups or queues.
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			if s := suggest(k.Value, names); s != "" {
				d.fail(p, k, "unknown key, did you mean %q?", s)
			} else {
				d.fail(p, k, "unknown key")
			}
			continue
		}
		allowZero := v.Type().Field(f).Tag.Get("check") == "allowzero"
		d.decode(p, val, v.Field(f), allowZero, depth+1)
	}
}

// merge applies the value of a "<<" key: one mapping or a list of them.
func (d *decoder) merge(path string, n *yaml.Node, v reflect.Value, depth int) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for _, e := range n.Content {
			d.merge(path, e, v, depth+1)
		}
		return
	}
	if depth > maxDepth {
		d.fail(path, n, "nested too deeply (recursive alias?)")
		return
	}
	d.structure(path, n, v, depth+1)
}

// yamlFields maps each yaml key of struct type t to its field index, and lists the
// keys in declaration order for suggestions. Fields tagged "-" and unexported fields
// are not keys.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "something else"
	}
}

// suggest returns the known key closest to a mistyped one, or "" if none is close
// enough to be a plausible typo.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(key, n); d < bestDist && d < len(key) {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (keys are short ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
