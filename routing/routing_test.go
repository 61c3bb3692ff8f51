package routing

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/presence"
)

type dir map[string]User

func (d dir) User(ext string) (User, bool) { u, ok := d[ext]; return u, ok }
func (d dir) Exists(ext string) bool       { _, ok := d[ext]; return ok || ext == "700" }
func (d dir) Outbound(dialled string) (OutboundRoute, bool) {
	if strings.HasPrefix(dialled, "9") && len(dialled) > 4 {
		return OutboundRoute{Trunk: "carrier", Number: dialled[1:], Transport: "udp", Addr: "127.0.0.1:5090"}, true
	}
	return OutboundRoute{}, false
}
func (d dir) Queue(ext string) (Queue, bool) {
	if ext == "700" {
		return Queue{Ext: "700", Strategy: LongestIdle, Members: []string{"1002"}, MaxWait: time.Minute, Fallback: Fallback{Kind: FallbackVoicemail, Ext: "1003"}}, true
	}
	return Queue{}, false
}
func (d dir) Group(ext string) (Group, bool) {
	g, ok := groups[ext]
	return g, ok
}

var groups = map[string]Group{
	"600": {Ext: "600", Members: []string{"1001", "1002", "1003", "1004"}, RingTimeout: 20 * time.Second, Fallback: Fallback{Kind: FallbackVoicemail, Ext: "1003"}},
	"601": {Ext: "601", Sequential: true, Members: []string{"1002", "1003"}, RingTimeout: 10 * time.Second, Fallback: Fallback{Kind: FallbackHangup}},
	"602": {Ext: "602", Members: []string{"1004"}, Fallback: Fallback{Kind: FallbackExt, Ext: "601"}},
}

type statuses map[string]presence.Status

func (s statuses) Status(ext string) (presence.Status, bool) {
	if st, ok := s[ext]; ok {
		return st, true
	}
	return presence.Available, true
}

// Get says DND was set by the user with the reason "in a meeting" at 10:02.
func (s statuses) Get(ext string) (presence.State, bool) {
	st, _ := s.Status(ext)
	out := presence.State{Ext: ext, Status: st, DND: st == presence.DND}
	if out.DND {
		out.Reason, out.Source, out.By, out.SetAt = "in a meeting", presence.SourceUser, ext, time.Date(2026, 12, 4, 10, 2, 0, 0, time.UTC)
	}
	return out, true
}

type regs map[string]bool

func (r regs) Registered(ext string) bool { return r[ext] }

func TestDecide(t *testing.T) {
	d := dir{
		"1001": {Ext: "1001", NoAnswerTimeout: 20 * time.Second},
		"1002": {Ext: "1002", NoAnswerTimeout: 5 * time.Second},
		"1003": {Ext: "1003", NoAnswerTimeout: 5 * time.Second, Voicemail: true},
	}
	r := New(d, regs{"1002": true, "1003": true}, nil)
	cases := map[string]struct {
		caller   string // "" = 1001; "-" = a trunk, no user
		dialled  string
		action   Action
		refusal  Refusal
		targets  []string
		timeout  time.Duration
		noAnswer Action
		box      string
	}{
		"registered user without mailbox rings, then 480":    {dialled: "1002", action: Ring, targets: []string{"1002"}, timeout: 5 * time.Second, noAnswer: Reject},
		"registered user with mailbox rings, then voicemail": {dialled: "1003", action: Ring, targets: []string{"1003"}, timeout: 5 * time.Second, noAnswer: Voicemail},
		"user without phone or mailbox is 480":               {dialled: "1001", action: Reject, refusal: Unavailable},
		"unknown number is 404":                              {dialled: "1999", action: Reject, refusal: NotFound},
		"a queue takes the caller in":                        {dialled: "700", action: Enqueue},
		"*97 opens the caller's own mailbox":                 {caller: "1003", dialled: "*97", action: VoicemailMenu, box: "1003"},
		"*97 without a mailbox is 404":                       {caller: "1002", dialled: "*97", action: Reject, refusal: NotFound},
		"*78 turns the caller's DND on":                      {caller: "1002", dialled: "*78", action: SetDND},
		"*79 turns the caller's DND off":                     {caller: "1002", dialled: "*79", action: SetDND},
		"*78 from a trunk is refused":                        {caller: "-", dialled: "*78", action: Reject, refusal: Forbidden},
		"*8 and a user picks up their call":                  {caller: "1002", dialled: "*81003", action: Pickup},
		"*8 of no such user is 404":                          {caller: "1002", dialled: "*81999", action: Reject, refusal: NotFound},
		"*8 from a trunk is refused":                         {caller: "-", dialled: "*81003", action: Reject, refusal: Forbidden},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			caller := tc.caller
			switch caller {
			case "":
				caller = "1001"
			case "-":
				caller = ""
			}
			p := r.Decide(Request{Caller: caller, Dialled: tc.dialled})
			if p.Action != tc.action || p.Refusal != tc.refusal || p.RingTimeout != tc.timeout || p.Box != tc.box {
				t.Fatalf("plan = %+v", p)
			}
			if tc.action == SetDND && (p.DND != (tc.dialled == "*78") || p.Ext != caller) {
				t.Fatalf("DND plan = %+v", p)
			}
			if tc.action == Ring && (p.NoAnswer == nil || p.NoAnswer.Action != tc.noAnswer) {
				t.Fatalf("no-answer plan = %+v, want %s", p.NoAnswer, tc.noAnswer)
			}
			if len(p.Targets) != len(tc.targets) || (len(tc.targets) > 0 && p.Targets[0] != tc.targets[0]) {
				t.Fatalf("targets = %v, want %v", p.Targets, tc.targets)
			}
			if len(p.Trace) == 0 {
				t.Fatal("plan has no trace")
			}
		})
	}
}

func TestUnregisteredUserWithMailboxGoesToVoicemail(t *testing.T) {
	r := New(dir{"1003": {Ext: "1003", Voicemail: true}}, regs{}, nil)
	p := r.Decide(Request{Caller: "1001", Dialled: "1003"})
	if p.Action != Voicemail || p.Box != "1003" || p.Greeting != GreetingNoAnswer {
		t.Fatalf("plan = %+v", p)
	}
}

func TestStatusDecidesCallToUser(t *testing.T) {
	d := dir{
		"1002": {Ext: "1002", NoAnswerTimeout: 5 * time.Second, Voicemail: true},
		"1003": {Ext: "1003", NoAnswerTimeout: 5 * time.Second},
	}
	cases := map[string]struct {
		status   presence.Status
		dialled  string
		action   Action
		greeting string
		announce string
	}{
		"available rings":                           {presence.Available, "1002", Ring, "", ""},
		"busy holds the caller, then rings":         {presence.Busy, "1002", Hold, GreetingBusy, ""},
		"dnd plays the DND greeting then voicemail": {presence.DND, "1002", Voicemail, GreetingDND, ""},
		"dnd without voicemail announces then 480":  {presence.DND, "1003", Reject, "", GreetingDND},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := New(d, regs{"1002": true, "1003": true}, statuses{tc.dialled: tc.status})
			p := r.Decide(Request{Caller: "1001", Dialled: tc.dialled})
			if p.Action != tc.action || p.Greeting != tc.greeting || p.Announce != tc.announce {
				t.Fatalf("plan = %+v", p)
			}
			if tc.action == Hold {
				if p.Then == nil || p.Then.Action != Ring || p.NoAnswer == nil || p.NoAnswer.Action != Voicemail ||
					p.HoldLimit != DefaultHoldLimit || p.Ext != "1002" {
					t.Fatalf("hold plan = %+v then %+v", p, p.Then)
				}
			}
			if tc.action == Reject && p.Refusal != Unavailable {
				t.Fatalf("refusal %s, want unavailable", p.Refusal)
			}
		})
	}
}

func TestGroupRingsOnlyAvailableMembersWithPhones(t *testing.T) {
	d := dir{
		"1001": {Ext: "1001"}, "1002": {Ext: "1002"},
		"1003": {Ext: "1003", Voicemail: true}, "1004": {Ext: "1004"},
	}
	cases := map[string]struct {
		dialled    string
		statuses   statuses
		regs       regs
		action     Action
		targets    []string
		sequential bool
		next       Action
		box        string
	}{
		"busy and DND members are skipped": {"600", statuses{"1001": presence.Busy, "1002": presence.DND},
			regs{"1001": true, "1002": true, "1003": true, "1004": true}, Ring, []string{"1003", "1004"}, false, Voicemail, ""},
		"a member without a phone is skipped": {"600", statuses{}, regs{"1002": true}, Ring, []string{"1002"}, false, Voicemail, ""},
		"nobody available goes to the fallback voicemail": {"600", statuses{"1001": presence.DND, "1002": presence.DND,
			"1003": presence.Busy, "1004": presence.DND}, regs{"1001": true, "1002": true, "1003": true, "1004": true},
			Voicemail, nil, false, 0, "1003"},
		"sequential groups ring in order": {"601", statuses{}, regs{"1002": true, "1003": true}, Ring,
			[]string{"1002", "1003"}, true, Reject, ""},
		"fallback to another group": {"602", statuses{"1004": presence.DND}, regs{"1002": true, "1003": true, "1004": true},
			Ring, []string{"1002", "1003"}, true, Reject, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := New(d, tc.regs, tc.statuses)
			p := r.Decide(Request{Caller: "1005", Dialled: tc.dialled})
			if p.Action != tc.action || strings.Join(p.Targets, ",") != strings.Join(tc.targets, ",") || p.Sequential != tc.sequential {
				t.Fatalf("plan = %+v", p)
			}
			if tc.action == Ring && (p.NoAnswer == nil || p.NoAnswer.Action != tc.next) {
				t.Fatalf("after no answer: %+v", p.NoAnswer)
			}
			if tc.box != "" && p.Box != tc.box {
				t.Fatalf("box %q, want %q", p.Box, tc.box)
			}
		})
	}
}

func TestOutboundCallsGoToTheTrunkEvenUnderDND(t *testing.T) {
	d := dir{"1002": {Ext: "1002"}}
	r := New(d, regs{}, statuses{"1002": presence.DND})
	p := r.Decide(Request{Caller: "1002", Dialled: "915551234567"})
	if p.Action != Outbound || p.Trunk.Number != "15551234567" || p.Trunk.Addr != "127.0.0.1:5090" {
		t.Fatalf("plan = %+v", p)
	}
	if p := r.Decide(Request{Caller: "", Dialled: "915551234567"}); p.Action != Reject || p.Refusal != Forbidden {
		t.Fatalf("trunk caller dialling out: %+v", p)
	}
}

func TestParseFallback(t *testing.T) {
	good := map[string]Fallback{
		"":               {Kind: FallbackHangup},
		"hangup":         {Kind: FallbackHangup},
		"voicemail:1002": {Kind: FallbackVoicemail, Ext: "1002"},
		"700":            {Kind: FallbackExt, Ext: "700"},
	}
	for in, want := range good {
		got, err := ParseFallback(in)
		if err != nil || got != want {
			t.Errorf("ParseFallback(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("%+v prints as %q, want %q", got, got.String(), in)
		}
	}
	for _, bad := range []string{"voicemail:", "sales", "70 0", "voicemail"} {
		if f, err := ParseFallback(bad); err == nil {
			t.Errorf("ParseFallback(%q) = %+v, want an error", bad, f)
		}
	}
}

func TestTransferredCallerRoutesAsTheTransferringUserMay(t *testing.T) {
	d := dir{
		"1001": {Ext: "1001"},
		"1003": {Ext: "1003", Voicemail: true},
	}
	r := New(d, regs{"1003": true}, nil)
	if p := r.Decide(Request{Caller: "", Dialled: "955501"}); p.Action != Reject || p.Refusal != Forbidden {
		t.Fatalf("a trunk caller dialling out: %v %v, want reject forbidden", p.Action, p.Refusal)
	}
	if p := r.Decide(Request{Caller: "", Dialled: "955501", TransferredBy: "1001"}); p.Action != Outbound {
		t.Fatalf("a trunk caller a user sent out: %v, want outbound", p.Action)
	}
	if p := r.Decide(Request{Caller: "", Dialled: "955501", TransferredBy: "6666"}); p.Action != Reject {
		t.Fatalf("transferred by someone who is not a user: %v, want reject", p.Action)
	}
}

func TestTransferToVoicemailGoesStraightToTheMailbox(t *testing.T) {
	d := dir{
		"1001": {Ext: "1001"},
		"1003": {Ext: "1003", Voicemail: true},
	}
	r := New(d, regs{"1003": true}, nil)
	p := r.Decide(Request{Caller: "1001", Dialled: "1003", Voicemail: true})
	if p.Action != Voicemail || p.Box != "1003" {
		t.Fatalf("to 1003's voicemail: %v box %q, want voicemail 1003", p.Action, p.Box)
	}
	for _, ext := range []string{"1001", "1999", "600"} {
		if p := r.Decide(Request{Caller: "1001", Dialled: ext, Voicemail: true}); p.Action != Reject || p.Refusal != NotFound {
			t.Fatalf("to %s's voicemail: %v %v, want reject not-found", ext, p.Action, p.Refusal)
		}
	}
}

// TestForwardedCallRingsTheUserHere: a call another node routed here rings the dialled user,
// whatever their status (that node decided), and is refused as unavailable when unanswered; a
// group, a queue, a feature code or a non-user dialled that way is not a user: 404.
func TestForwardedCallRingsTheUserHere(t *testing.T) {
	d := dir{"1002": {Ext: "1002", NoAnswerTimeout: 5 * time.Second, Voicemail: true}}
	r := New(d, regs{}, statuses{"1002": presence.DND})
	p := r.Decide(Request{Caller: "1001", Dialled: "1002", FromNode: "b"})
	if p.Action != Ring || len(p.Targets) != 1 || p.Targets[0] != "1002" || p.RingTimeout != ForwardedRingLimit || !p.HereOnly ||
		p.NoAnswer == nil || p.NoAnswer.Action != Reject || p.NoAnswer.Refusal != Unavailable {
		t.Fatalf("plan = %+v", p)
	}
	if !strings.Contains(strings.Join(p.Trace, " "), "from node b") {
		t.Fatalf("trace %q does not name the node", p.Trace)
	}
	for _, dialled := range []string{"600", "700", "*78", "*81002", "1999"} {
		if p := r.Decide(Request{Caller: "1001", Dialled: dialled, FromNode: "b"}); p.Action != Reject || p.Refusal != NotFound {
			t.Errorf("%s forwarded: plan %+v, want 404", dialled, p)
		}
	}
}

// TestDecisionsSayWhoWasSkippedAndWhy: every user a decision passes over is named with the
// reason, and a DND with who set it, so that their history can answer "why didn't my phone
// ring?".
func TestDecisionsSayWhoWasSkippedAndWhy(t *testing.T) {
	d := dir{
		"1001": {Ext: "1001"}, "1002": {Ext: "1002"},
		"1003": {Ext: "1003", Voicemail: true}, "1004": {Ext: "1004"},
	}
	at := time.Date(2026, 12, 4, 10, 2, 0, 0, time.UTC)
	dnd := func(ext, via string) history.Skip {
		return history.Skip{Ext: ext, Via: via, Why: history.SkipDND, Reason: "in a meeting", Source: "user", By: ext, At: at}
	}
	cases := map[string]struct {
		dialled  string
		statuses statuses
		regs     regs
		want     []history.Skip
	}{
		"a user on DND": {"1003", statuses{"1003": presence.DND}, regs{"1003": true}, []history.Skip{dnd("1003", "")}},
		"a user on a call": {"1003", statuses{"1003": presence.Busy}, regs{"1003": true},
			[]history.Skip{{Ext: "1003", Why: history.SkipOnCall}}},
		"a user without a phone": {"1003", statuses{}, regs{}, []history.Skip{{Ext: "1003", Why: history.SkipNoPhone}}},
		"an available user":      {"1003", statuses{}, regs{"1003": true}, nil},
		"group members": {"600", statuses{"1001": presence.Busy, "1002": presence.DND}, regs{"1001": true, "1002": true, "1003": true},
			[]history.Skip{{Ext: "1001", Via: "600", Why: history.SkipOnCall}, dnd("1002", "600"), {Ext: "1004", Via: "600", Why: history.SkipNoPhone}}},
		"nobody in the group": {"600", statuses{"1001": presence.DND, "1002": presence.DND, "1003": presence.DND, "1004": presence.DND},
			regs{"1001": true, "1002": true, "1003": true, "1004": true},
			[]history.Skip{dnd("1001", "600"), dnd("1002", "600"), dnd("1003", "600"), dnd("1004", "600")}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := New(d, tc.regs, tc.statuses).Decide(Request{Caller: "1005", Dialled: tc.dialled})
			if !slices.Equal(p.Skipped, tc.want) {
				t.Errorf("skipped %+v\nwant    %+v", p.Skipped, tc.want)
			}
		})
	}
}
