package digest_test

import "testing"

// FuzzVerify feeds arbitrary methods and header values to Verify, which must
// never panic. Seeds include a valid answer so the fuzzer starts from the
// deep paths.
func FuzzVerify(f *testing.F) {
	clk := newClock()
	s := newServer(clk)
	valid := creds{
		alg: "MD5", user: "alice", realm: realm, pass: users["alice"], method: "REGISTER",
		uri: "sip:" + realm, nonce: nonceOf(f, s, "MD5", false), nc: "00000001", cnonce: "c", qop: "auth",
	}
	f.Add("REGISTER", valid.header())
	valid.qop, valid.alg = "", "SHA-256-sess"
	f.Add("REGISTER", valid.header())
	f.Add("INVITE", `Digest username="a\"b", realm="x,y", nonce=00, uri=sip:x, response=00, qop="auth-int"`)
	f.Add("", "Digest ,,,")
	f.Add("", `digest username="`)
	f.Add("BYE", "Basic abc")
	f.Fuzz(func(t *testing.T, method, header string) {
		user, err := s.Verify(method, header, lookup)
		if err == nil && user == "" {
			t.Errorf("success without a user for %q", header)
		}
		if err != nil && user != "" {
			t.Errorf("user %q returned with error %v", user, err)
		}
	})
}
