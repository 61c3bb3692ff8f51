package main

import (
	"context"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// storePagesInterval is how often the switch looks whether to let go of the data store's pages.
const storePagesInterval = 10 * time.Second

// dropStorePagesEvery drops the data store's pages from the switch's memory (dropStorePages)
// at each look, every interval, that finds the switch quiet, until the returned stop is called,
// which waits for it. The data store is read through a mapping of its file, and what the switch
// read stayed in its resident memory: after a busy hour every page the call history touched
// (18–31 MB after the bench's ladders of 85,000 calls and more), so the switch never came back
// to its size at rest. Dropped, the pages live in the kernel's file cache like any file the
// switch reads, which the kernel gives up when memory is short.
//
// Quiet is no collection the runtime started since the last look: a loaded switch collects every
// few seconds, and would fault the pages it uses straight back. The collections trimMemory forces
// do not count: they come of the switch being quiet, and counted they kept the pages for good
// (31.5 MB a minute after the bench's ladder). The first failure is logged and the loop ends:
// the switch works the same, it only keeps the pages.
func dropStorePagesEvery(db *bbolt.DB, interval time.Duration, log *zap.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		collections := func() uint64 { return readUint64(gcCycles) }
		if err := dropWhenQuiet(ctx, t.C, collections, func() error { return dropStorePages(db) }); err != nil {
			log.Warn("the data store's pages stay in memory", zap.Error(err))
		}
	}()
	return func() { cancel(); <-done }
}

// dropWhenQuiet calls drop at each tick when collections has not changed since the tick before,
// until ctx ends (nil) or drop fails (its error).
func dropWhenQuiet(ctx context.Context, ticks <-chan time.Time, collections func() uint64, drop func() error) error {
	n := collections()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
		last := n
		if n = collections(); n != last {
			continue
		}
		if err := drop(); err != nil {
			return err
		}
	}
}

// gcCycles is the runtime's count of the collections it started itself (not debug.FreeOSMemory's).
const gcCycles = "/gc/cycles/automatic:gc-cycles"
