package testports

import "testing"

func TestTakeHandsOutEvenRangesInOrderAndWraps(t *testing.T) {
	b := &Block{first: 20000, size: 20}
	for i, c := range []struct{ n, want int }{
		{4, 20000}, {3, 20004}, // 3 is rounded up to a pair boundary: 4 ports
		{6, 20008}, {6, 20014}, // ends on the block's last port
		{2, 20000}, // would pass the end: back to the start
		{20, 20000},
	} {
		if got := b.Take(t, c.n); got != c.want {
			t.Errorf("take %d (#%d): %d, want %d", c.n, i, got, c.want)
		}
	}
}

func TestTakeFreeSkipsBusyRangesInOrder(t *testing.T) {
	b := &Block{first: 20000, size: 40}
	busy := map[int]bool{20000: true, 20004: true}
	var asked []int
	got := b.TakeFree(t, 4, func(lo, n int) bool { asked = append(asked, lo); return !busy[lo] })
	if got != 20008 {
		t.Errorf("TakeFree: %d, want 20008 (asked %v)", got, asked)
	}
	if got := b.Take(t, 2); got != 20012 {
		t.Errorf("after TakeFree the next range starts at %d, want 20012", got)
	}
}

func TestBlocksOfALaneDoNotOverlapAndStayBelowTheEphemeralRange(t *testing.T) {
	for _, lane := range []string{"0", "1"} {
		t.Run("lane "+lane, func(t *testing.T) {
			t.Setenv("SWITCHBOARD_TEST_PORT_LANE", lane)
			blocks := []*Block{Media(), SwitchRTP(), Signalling(), PhoneRTP(), WebRTC()}
			for i, a := range blocks {
				if a.first+a.size > 32768 {
					t.Errorf("block at %d-%d reaches the ephemeral range", a.first, a.first+a.size-1)
				}
				for _, b := range blocks[i+1:] {
					if a.first < b.first+b.size && b.first < a.first+a.size {
						t.Errorf("blocks %d+%d and %d+%d overlap", a.first, a.size, b.first, b.size)
					}
				}
			}
		})
	}
	t.Setenv("SWITCHBOARD_TEST_PORT_LANE", "1")
	lane1 := Media()
	t.Setenv("SWITCHBOARD_TEST_PORT_LANE", "")
	if lane0 := Media(); lane1.first-lane0.first != LaneSize {
		t.Errorf("lane 1 media block at %d, lane 0 at %d: want %d apart", lane1.first, lane0.first, LaneSize)
	}
}
