package main

import (
	"fmt"
	"path/filepath"

	"github.com/switchboard-voip/switchboard/backup"
	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/greeting"
	"github.com/switchboard-voip/switchboard/routing"
)

// loadGreetings opens the store of users' greetings: uploads (through the HTTP API) in
// data_dir/greetings, else the files users[].greetings names. Every configured file is
// decoded once here, so a bad one stops the start-up with its key rather than failing a
// caller's call. The store serves both the SIP layer (sip.Greetings) and the API.
func loadGreetings(cfg *config.Config) (*greeting.Store, error) {
	configured := func(ext, kind string) string {
		u, ok := cfg.User(ext)
		if !ok {
			return ""
		}
		switch kind {
		case routing.GreetingBusy:
			return u.Greetings.Busy
		case routing.GreetingDND:
			return u.Greetings.DND
		case routing.GreetingNoAnswer:
			return u.Greetings.NoAnswer
		}
		return ""
	}
	store, err := greeting.Open(filepath.Join(cfg.DataDir, backup.GreetingsDir), configured)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	for _, u := range cfg.Users {
		for _, kind := range greeting.Kinds {
			if err := store.CheckConfigured(u.Ext, kind); err != nil {
				return nil, fmt.Errorf("users[%s].greetings.%s: %w", u.Ext, kind, err)
			}
		}
	}
	return store, nil
}

// loadQueueMusic reads every queue's own music on hold at start, so a bad file names its queue.
func loadQueueMusic(cfg *config.Config) (map[string][]int16, error) {
	music := map[string][]int16{}
	for i, q := range cfg.Queues {
		if q.MusicOnHold == "" {
			continue
		}
		pcm, err := media.LoadWAV(q.MusicOnHold)
		if err != nil {
			return nil, fmt.Errorf("queues[%d].music_on_hold: %w", i, err)
		}
		music[q.Ext] = pcm
	}
	return music, nil
}
