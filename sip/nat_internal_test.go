package sip

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestBehindNAT(t *testing.T) {
	for name, tc := range map[string]struct {
		contact, viaHost string
		viaPort          int
		transport        string
		source           string
		want             bool
	}{
		"third party on one host":           {"127.0.0.1", "127.0.0.1", 5070, "UDP", "127.0.0.1:5070", false},
		"public phone, public contact":      {"203.0.113.7", "203.0.113.7", 5060, "UDP", "203.0.113.7:5060", false},
		"private contact, public source":    {"192.168.1.50", "192.168.1.50", 5060, "UDP", "203.0.113.7:40312", true},
		"private contact equals source":     {"10.0.0.5", "10.0.0.5", 5060, "UDP", "10.0.0.5:5060", false},
		"via port rewritten (udp)":          {"203.0.113.7", "203.0.113.7", 5060, "UDP", "203.0.113.7:40312", true},
		"via port is not the source on tcp": {"203.0.113.7", "203.0.113.7", 5060, "TCP", "203.0.113.7:40312", false},
		"via host rewritten":                {"203.0.113.7", "198.51.100.1", 5060, "UDP", "203.0.113.7:5060", true},
		"via default port":                  {"203.0.113.7", "203.0.113.7", 0, "UDP", "203.0.113.7:5060", false},
		"carrier-grade NAT contact":         {"100.64.3.4", "100.64.3.4", 5060, "UDP", "203.0.113.7:5060", true},
		"IPv6 unique-local contact":         {"fd00::5", "2001:db8::5", 5060, "UDP", "[2001:db8::5]:5060", true},
		"hostname contact and via":          {"phone.example.com", "phone.example.com", 5060, "UDP", "203.0.113.7:5060", false},
	} {
		t.Run(name, func(t *testing.T) {
			via := &sip.ViaHeader{Host: tc.viaHost, Port: tc.viaPort, Params: sip.NewParams()}
			if got := behindNAT(sip.Uri{Host: tc.contact, Port: 5060}, via, tc.transport, tc.source); got != tc.want {
				t.Fatalf("behindNAT = %t, want %t", got, tc.want)
			}
		})
	}
}

func TestParseNATAndPath(t *testing.T) {
	for in, want := range map[string]NAT{"": NATAuto, "auto": NATAuto, "always": NATAlways, "never": NATNever} {
		if got, err := ParseNAT(in); err != nil || got != want {
			t.Errorf("ParseNAT(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := ParseNAT("sometimes"); err == nil {
		t.Error("ParseNAT accepted a bad mode")
	}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "switchboard"})
	req.AppendHeader(sip.NewHeader("Path", `<sip:p1@10.0.0.1;lr>, "Edge, B" <sip:p2@10.0.0.2:5080;lr>`))
	req.AppendHeader(sip.NewHeader("Path", "<sip:p3@10.0.0.3;lr>"))
	path, err := pathOf(req)
	if err != nil || len(path) != 3 || path[0].Host != "10.0.0.1" || path[1].Port != 5080 || path[2].User != "p3" {
		t.Fatalf("pathOf = %v, %v", path, err)
	}
	bad := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "switchboard"})
	bad.AppendHeader(sip.NewHeader("Path", "<sip:p1@10.0.0.1;lr"))
	if _, err := pathOf(bad); err == nil {
		t.Fatal("an unterminated Path was accepted")
	}
}
