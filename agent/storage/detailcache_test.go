package storage

import "testing"

func TestDetailCache(t *testing.T) {
	var c detailCache[int]
	asked := 0
	learn := func(n int) func() int { return func() int { asked++; return n } }
	if got := c.get("a", learn(1)); got != 1 || asked != 1 {
		t.Fatalf("first get = %d after %d asks", got, asked)
	}
	if got := c.get("a", learn(2)); got != 1 || asked != 1 {
		t.Errorf("second get = %d after %d asks, want the kept 1 without asking", got, asked)
	}
	c.get("b", learn(3))
	c.keep(map[string]bool{"b": true})
	if got := c.get("a", learn(4)); got != 4 || asked != 3 {
		t.Errorf("after a was not seen, get = %d after %d asks, want it learnt again", got, asked)
	}
	if got := c.get("b", learn(5)); got != 3 {
		t.Errorf("b, seen, = %d, want the kept 3", got)
	}
}
