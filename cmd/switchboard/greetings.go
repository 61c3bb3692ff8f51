package main

import (
	"fmt"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/routing"
)

// greetings holds every user's configured greetings, converted to 8 kHz mono once at start so
// a bad file stops the start-up with its name rather than a caller's call.
type greetings map[string][]int16

func loadGreetings(cfg *config.Config) (greetings, error) {
	g := greetings{}
	for _, u := range cfg.Users {
		for kind, path := range map[string]string{
			routing.GreetingBusy:     u.Greetings.Busy,
			routing.GreetingDND:      u.Greetings.DND,
			routing.GreetingNoAnswer: u.Greetings.NoAnswer,
		} {
			if path == "" {
				continue
			}
			pcm, err := media.LoadWAV(path)
			if err != nil {
				return nil, fmt.Errorf("users[%s].greetings.%s: %w", u.Ext, kind, err)
			}
			g[u.Ext+"/"+kind] = pcm
		}
	}
	return g, nil
}

// Greeting implements sip.Greetings.
func (g greetings) Greeting(ext, kind string) []int16 { return g[ext+"/"+kind] }
