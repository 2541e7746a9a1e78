package agenttest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// Eventually bounds every wait of a [Recorder] for something that must
// happen: far longer than any delay under test, so a loaded machine does
// not fail tests.
const Eventually = 30 * time.Second

// Recorder keeps what the sink of the code under test is given (its
// events, its notifications), in order: any goroutine may add, and the test
// reads and waits. The zero Recorder is empty and ready.
type Recorder[T any] struct {
	mu  sync.Mutex
	got []T
}

// Add records v.
func (r *Recorder[T]) Add(v T) {
	r.mu.Lock()
	r.got = append(r.got, v)
	r.mu.Unlock()
}

// All returns what was recorded, oldest first.
func (r *Recorder[T]) All() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Where returns what was recorded that keep accepts, oldest first.
func (r *Recorder[T]) Where(keep func(T) bool) []T {
	var out []T
	for _, v := range r.All() {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// Until waits until cond holds, and fails the test if it does not within
// Eventually, saying what it waited for and listing all that was recorded.
func (r *Recorder[T]) Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Eventually)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; recorded: %+v", what, r.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Wait waits until at least n of what was recorded pass keep, and returns
// those; it fails the test as Until does.
func (r *Recorder[T]) Wait(t testing.TB, what string, n int, keep func(T) bool) []T {
	t.Helper()
	var got []T
	r.Until(t, what, func() bool { got = r.Where(keep); return len(got) >= n })
	return got
}

// OfType is the test of an event's type, for Where and Wait.
func OfType(typ string) func(wire.Event) bool {
	return func(e wire.Event) bool { return e.Type == typ }
}
