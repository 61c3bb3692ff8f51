package digest

import (
	"fmt"
	"strings"
)

// credentials holds the parameters of one Digest credentials value. Strings
// alias the header unless they needed unescaping, so parsing allocates only
// for quoted-pairs.
type credentials struct {
	username  string
	realm     string
	nonce     string
	uri       string
	response  string
	algorithm string
	qop       string
	nc        string
	cnonce    string
	opaque    string
}

// parseCredentials parses `Digest name=value, name="quoted value", ...`.
//
// It is lenient where phones differ (scheme and parameter names in any case,
// any value quoted or not, empty list elements, unknown parameters) and strict
// where ambiguity could be abused: a repeated parameter or trailing garbage is
// ErrMalformed, since two different "uri" or "realm" values could make a
// proxy and this server disagree about what was authenticated.
func parseCredentials(h string, c *credentials) error {
	h = trimOWS(h)
	if h == "" {
		return ErrNoCredentials
	}
	i := 0
	for i < len(h) && isTchar(h[i]) {
		i++
	}
	scheme := h[:i]
	if !strings.EqualFold(scheme, "Digest") {
		return fmt.Errorf("%w: scheme %q is not Digest", ErrMalformed, clip(scheme))
	}
	if i < len(h) && !isOWS(h[i]) {
		return fmt.Errorf("%w: no space after scheme", ErrMalformed)
	}

	var seen uint16
	for {
		// Skip whitespace and empty list elements (RFC 9110 §5.6.1).
		for i < len(h) && (isOWS(h[i]) || h[i] == ',') {
			i++
		}
		if i == len(h) {
			return nil
		}

		start := i
		for i < len(h) && isTchar(h[i]) {
			i++
		}
		name := h[start:i]
		if name == "" {
			return fmt.Errorf("%w: expected a parameter name at offset %d", ErrMalformed, i)
		}
		i = skipOWS(h, i)
		if i == len(h) || h[i] != '=' {
			return fmt.Errorf("%w: parameter %q has no value", ErrMalformed, clip(name))
		}
		i = skipOWS(h, i+1)

		var value string
		if i < len(h) && h[i] == '"' {
			var err error
			value, i, err = readQuoted(h, i)
			if err != nil {
				return fmt.Errorf("%w: parameter %q: %v", ErrMalformed, clip(name), err)
			}
		} else {
			// Tokens, leniently: some phones leave a uri or nonce unquoted,
			// so accept anything up to the next separator.
			start := i
			for i < len(h) && h[i] != ',' && !isOWS(h[i]) {
				i++
			}
			value = h[start:i]
			if value == "" {
				return fmt.Errorf("%w: parameter %q is empty", ErrMalformed, clip(name))
			}
		}

		i = skipOWS(h, i)
		if i < len(h) && h[i] != ',' {
			return fmt.Errorf("%w: unexpected %q after parameter %q", ErrMalformed, h[i], clip(name))
		}

		field, bit := c.field(name)
		if field == nil {
			continue // opaque extensions and userhash are not ours to judge
		}
		if seen&bit != 0 {
			return fmt.Errorf("%w: parameter %q repeated", ErrMalformed, clip(name))
		}
		seen |= bit
		*field = value
	}
}

// field maps a parameter name to its slot and a bit for duplicate detection.
func (c *credentials) field(name string) (*string, uint16) {
	switch {
	case strings.EqualFold(name, "username"):
		return &c.username, 1 << 0
	case strings.EqualFold(name, "realm"):
		return &c.realm, 1 << 1
	case strings.EqualFold(name, "nonce"):
		return &c.nonce, 1 << 2
	case strings.EqualFold(name, "uri"):
		return &c.uri, 1 << 3
	case strings.EqualFold(name, "response"):
		return &c.response, 1 << 4
	case strings.EqualFold(name, "algorithm"):
		return &c.algorithm, 1 << 5
	case strings.EqualFold(name, "qop"):
		return &c.qop, 1 << 6
	case strings.EqualFold(name, "nc"):
		return &c.nc, 1 << 7
	case strings.EqualFold(name, "cnonce"):
		return &c.cnonce, 1 << 8
	case strings.EqualFold(name, "opaque"):
		return &c.opaque, 1 << 9
	}
	return nil, 0
}

// readQuoted reads the quoted-string starting at h[i] == '"' and returns its
// unescaped content and the index just past the closing quote.
func readQuoted(h string, i int) (string, int, error) {
	i++ // opening quote
	start := i
	for i < len(h) {
		switch h[i] {
		case '"':
			return h[start:i], i + 1, nil
		case '\\':
			return readEscaped(h, start)
		}
		i++
	}
	return "", i, fmt.Errorf("unterminated quoted string")
}

// readEscaped is the slow path of readQuoted for strings holding
// quoted-pairs; only it allocates.
func readEscaped(h string, start int) (string, int, error) {
	var b strings.Builder
	for i := start; i < len(h); i++ {
		switch h[i] {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i == len(h) {
				return "", i, fmt.Errorf("unterminated quoted string")
			}
		}
		b.WriteByte(h[i])
	}
	return "", len(h), fmt.Errorf("unterminated quoted string")
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func skipOWS(h string, i int) int {
	for i < len(h) && isOWS(h[i]) {
		i++
	}
	return i
}

// trimOWS also drops CR and LF, which a folded or hand-built header may keep.
func trimOWS(h string) string {
	return strings.Trim(h, " \t\r\n")
}

// isTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// Username is the user name an Authorization or Proxy-Authorization value claims, or "" when it
// names none or cannot be read. It says nothing about whether the credentials are right.
func Username(header string) string {
	var c credentials
	if parseCredentials(header, &c) != nil {
		return ""
	}
	return c.username
}
