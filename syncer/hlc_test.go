package syncer

import "testing"

func TestClockIsMonotonic(t *testing.T) {
	wall := int64(1_000)
	c := NewClock(func() int64 { return wall }, 0)
	a := c.Now()
	b := c.Now()
	if b <= a || a.WallMs() != 1000 {
		t.Fatalf("a=%d b=%d", a, b)
	}
	wall = 500 // the physical clock jumps back
	if d := c.Now(); d <= b {
		t.Fatalf("clock went back: %d after %d", d, b)
	}
	c.Observe(MakeHLC(9_000, 3))
	if e := c.Now(); e <= MakeHLC(9_000, 3) {
		t.Fatalf("clock did not move past an observed time: %d", e)
	}
	restarted := NewClock(func() int64 { return 500 }, c.Last())
	if restarted.Now() <= c.Last() {
		t.Fatal("a restarted clock must not repeat timestamps")
	}
}
