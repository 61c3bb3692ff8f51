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
// dataDir/greetings, else the files a user's greetings in the directory name (current gives
// the directory as it is now). Every such file is decoded once here, so a bad one stops the
// start-up with its key rather than failing a caller's call. The store serves both the SIP
// layer (sip.Greetings) and the API.
func loadGreetings(dataDir string, current func() *config.Config) (*greeting.Store, error) {
	configured := func(ext, kind string) string {
		u, ok := current().User(ext)
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
	store, err := greeting.Open(filepath.Join(dataDir, backup.GreetingsDir), configured)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	for _, u := range current().Users {
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
