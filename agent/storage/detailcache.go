package storage

import "sync"

// detailCache keeps what a Source learns about each mounted volume by
// asking the system (its bus, its USB ids), so that it asks once while the
// volume stays mounted: a listing gets each volume's details, learning
// them the first time, and then forgets the volumes it did not see.
type detailCache[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

// get returns the details kept for key, learning them with learn (without
// the lock held) if there are none.
func (c *detailCache[T]) get(key string, learn func() T) T {
	c.mu.Lock()
	d, ok := c.m[key]
	c.mu.Unlock()
	if !ok {
		d = learn()
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]T{}
		}
		c.m[key] = d
		c.mu.Unlock()
	}
	return d
}

// keep forgets the details of every key not in seen.
func (c *detailCache[T]) keep(seen map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if !seen[k] {
			delete(c.m, k)
		}
	}
}
