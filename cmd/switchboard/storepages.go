package main

import (
	"context"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// storePagesInterval is how often the switch drops the data store's pages: what one second of
// calls touches is all it keeps of them.
const storePagesInterval = time.Second

// dropStorePagesEvery drops the data store's pages from the switch's memory (dropStorePages)
// every interval until the returned stop is called, which waits for it. The data store is read
// through a mapping of its file, and what the switch read stayed in its resident memory. The
// kernel maps the 16 pages around each one read (fault-around: 64 KB for each page bbolt
// touches, MADV_RANDOM or not), and the history's index puts each call's entries on pages of
// their own (one place per extension), so a hundred calls' records brought 4.7 MB of a 32 MB
// store into memory and a thousand 7.5 MB; after the bench's rate ladder 10–20 MB stayed through
// the streaming steps that followed, 20 MB of the 160 MB held for 2,000 streaming calls. Dropped,
// the pages live in the kernel's file cache like any file the switch reads, which the kernel
// gives up when memory is short; the next read maps them again (a minor fault, no disk).
//
// It drops under a load too, which costs little: 5,000 records added at 2,800 a second to a
// store of 60,000 faulted 1,946 and 2,041 times with a drop a second against 1,682 and 1,754
// without (CPU 357–362 ms against 296–321); with it the store's pages at each step's peak over
// the bench's ladder were 0.0–5.3 MB (2026-12-05). The first failure is logged and the loop
// ends: the switch works the same, it only keeps the pages.
func dropStorePagesEvery(db *bbolt.DB, interval time.Duration, log *zap.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		if err := dropAtTicks(ctx, t.C, func() error { return dropStorePages(db) }); err != nil {
			log.Warn("the data store's pages stay in memory", zap.Error(err))
		}
	}()
	return func() { cancel(); <-done }
}

// dropAtTicks calls drop at each tick until ctx ends (nil) or drop fails (its error).
func dropAtTicks(ctx context.Context, ticks <-chan time.Time, drop func() error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
		if err := drop(); err != nil {
			return err
		}
	}
}
