package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestComputeRFCExamples checks the response computation against the worked
// examples in the RFCs, which use nonces this server would never mint, so
// they go straight to the hash function.
func TestComputeRFCExamples(t *testing.T) {
	rfc7616 := digestInput{
		username: "Mufasa",
		realm:    "http-auth@example.org",
		secret:   Secret{Password: "Circle of Life"},
		method:   "GET",
		uri:      "/dir/index.html",
		nonce:    "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		nc:       "00000001",
		cnonce:   "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
		qop:      "auth",
	}
	tests := map[string]struct {
		in   digestInput
		want string
	}{
		"RFC 2617 §3.5 MD5": {
			in: digestInput{
				alg:      algMD5,
				username: "Mufasa",
				realm:    "testrealm@host.com",
				secret:   Secret{Password: "Circle Of Life"},
				method:   "GET",
				uri:      "/dir/index.html",
				nonce:    "dcd98b7102dd2f0e8b11d0f600bfb0c093",
				nc:       "00000001",
				cnonce:   "0a4f113b",
				qop:      "auth",
			},
			want: "6629fae49393a05397450978507c4ef1",
		},
		"RFC 7616 §3.9.1 MD5": {
			in:   with(rfc7616, algMD5),
			want: "8ca523f5e9506fed4657c9700eebdbec",
		},
		"RFC 7616 §3.9.1 SHA-256": {
			in:   with(rfc7616, algSHA256),
			want: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var dst [sha256.Size]byte
			if got := hex.EncodeToString(tc.in.compute(&dst)); got != tc.want {
				t.Errorf("response = %s, want %s", got, tc.want)
			}
		})
	}
}

func with(in digestInput, a algorithm) digestInput {
	in.alg = a
	return in
}

func TestParseAlgorithm(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    algorithm
		wantErr bool
	}{
		"absent is MD5":  {in: "", want: algMD5},
		"MD5":            {in: "MD5", want: algMD5},
		"lowercase md5":  {in: "md5", want: algMD5},
		"MD5-sess":       {in: "MD5-sess", want: algMD5Sess},
		"SHA-256":        {in: "SHA-256", want: algSHA256},
		"sha-256-SESS":   {in: "sha-256-SESS", want: algSHA256Sess},
		"SHA-512-256 no": {in: "SHA-512-256", wantErr: true},
		"AKAv1-MD5 no":   {in: "AKAv1-MD5", wantErr: true},
		"prefix MD5x no": {in: "MD5x", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseAlgorithm(tc.in)
			if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
				t.Errorf("parseAlgorithm(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

func TestParseCredentials(t *testing.T) {
	tests := map[string]struct {
		in   string
		want credentials
	}{
		"quoted and unquoted": {
			in:   `Digest username="alice", realm="r", nonce=abc, uri="sip:a@b;transport=udp", response="ff", qop=auth, nc=00000001, cnonce="x", algorithm=MD5, opaque="o"`,
			want: credentials{username: "alice", realm: "r", nonce: "abc", uri: "sip:a@b;transport=udp", response: "ff", qop: "auth", nc: "00000001", cnonce: "x", algorithm: "MD5", opaque: "o"},
		},
		"scheme and names in any case, odd whitespace": {
			in:   "  dIgEsT\tUserName = \"bob\" ,REALM=\"r\",,  ,nonce=\"n\"\r\n",
			want: credentials{username: "bob", realm: "r", nonce: "n"},
		},
		"commas and escapes inside quotes": {
			in:   `Digest username="a,b\"c\\d", realm="x, y"`,
			want: credentials{username: `a,b"c\d`, realm: "x, y"},
		},
		"unknown parameters ignored": {
			in:   `Digest userhash=false, username="u", foo="bar, baz"`,
			want: credentials{username: "u"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got credentials
			if err := parseCredentials(tc.in, &got); err != nil {
				t.Fatalf("parseCredentials: %v", err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
