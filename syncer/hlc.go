package syncer

import "sync"

// HLC is a hybrid logical clock: wall milliseconds in the high 48 bits, a logical counter in the
// low 16. Clocks only pick the winner between concurrent register edits; concurrency itself is
// detected by revisions.
type HLC uint64

const hlcLogicalBits = 16

// MakeHLC packs wall milliseconds and a logical counter.
func MakeHLC(wallMs int64, logical uint16) HLC {
	return HLC(uint64(wallMs)<<hlcLogicalBits | uint64(logical))
}

// WallMs is the wall-clock part in Unix milliseconds.
func (h HLC) WallMs() int64 { return int64(uint64(h) >> hlcLogicalBits) }

// Clock issues HLC timestamps. now returns the corrected physical time in Unix milliseconds
// (on a tablet: its own clock plus the offset learnt from the server's responses).
type Clock struct {
	mu   sync.Mutex
	now  func() int64
	last HLC
}

// NewClock returns a clock that reads physical time from now and never goes below last
// (the highest HLC this replica has issued or seen, persisted across restarts).
func NewClock(now func() int64, last HLC) *Clock {
	return &Clock{now: now, last: last}
}

// Now returns a timestamp greater than every timestamp issued or observed before.
func (c *Clock) Now() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := MakeHLC(c.now(), 0)
	if wall > c.last {
		c.last = wall
	} else {
		c.last++
	}
	return c.last
}

// Observe moves the clock past a timestamp seen in a change from elsewhere.
func (c *Clock) Observe(h HLC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h > c.last {
		c.last = h
	}
}

// Last is the highest timestamp issued or observed, for persisting.
func (c *Clock) Last() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
