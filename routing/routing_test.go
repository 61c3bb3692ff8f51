package routing

import (
	"testing"
	"time"
)

type dir map[string]User

func (d dir) User(ext string) (User, bool) { u, ok := d[ext]; return u, ok }
func (d dir) Exists(ext string) bool       { _, ok := d[ext]; return ok || ext == "600" }

type regs map[string]bool

func (r regs) Registered(ext string) bool { return r[ext] }

func TestDecide(t *testing.T) {
	d := dir{
		"1001": {Ext: "1001", NoAnswerTimeout: 20 * time.Second},
		"1002": {Ext: "1002", NoAnswerTimeout: 5 * time.Second},
		"1003": {Ext: "1003", NoAnswerTimeout: 5 * time.Second, Voicemail: true},
	}
	r := New(d, regs{"1002": true, "1003": true})
	cases := map[string]struct {
		caller   string // "" = 1001; "-" = a trunk, no user
		dialled  string
		action   Action
		code     int
		targets  []string
		timeout  time.Duration
		noAnswer Action
		box      string
	}{
		"registered user without mailbox rings, then 480":    {dialled: "1002", action: Ring, targets: []string{"1002"}, timeout: 5 * time.Second, noAnswer: Reject},
		"registered user with mailbox rings, then voicemail": {dialled: "1003", action: Ring, targets: []string{"1003"}, timeout: 5 * time.Second, noAnswer: Voicemail},
		"user without phone or mailbox is 480":               {dialled: "1001", action: Reject, code: 480},
		"unknown number is 404":                              {dialled: "1999", action: Reject, code: 404},
		"group not yet routed is 480":                        {dialled: "600", action: Reject, code: 480},
		"*97 opens the caller's own mailbox":                 {caller: "1003", dialled: "*97", action: VoicemailMenu, box: "1003"},
		"*97 without a mailbox is 404":                       {caller: "1002", dialled: "*97", action: Reject, code: 404},
		"*78 turns the caller's DND on":                      {caller: "1002", dialled: "*78", action: SetDND},
		"*79 turns the caller's DND off":                     {caller: "1002", dialled: "*79", action: SetDND},
		"*78 from a trunk is refused":                        {caller: "-", dialled: "*78", action: Reject, code: 403},
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
			if p.Action != tc.action || p.Code != tc.code || p.RingTimeout != tc.timeout || p.Box != tc.box {
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
	r := New(dir{"1003": {Ext: "1003", Voicemail: true}}, regs{})
	p := r.Decide(Request{Caller: "1001", Dialled: "1003"})
	if p.Action != Voicemail || p.Box != "1003" || p.Greeting != GreetingNoAnswer {
		t.Fatalf("plan = %+v", p)
	}
}
