package storagetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/storage"
)

// Eventually bounds every wait of a [Source] for something that must
// happen; it is far longer than any delay under test, so a loaded machine
// does not fail tests.
const Eventually = 30 * time.Second

// Hang, scripted with [Source.ScriptBlock], makes that Block call wait,
// whatever its context says, until [Source.Release] is called; it then
// returns Hang.
var Hang = errors.New("storagetest: a block that hung")

// Source is a [storage.Source] whose volumes a test sets and whose blocks
// it scripts, and a [storage.Notifier] if made so, whose notifications
// [Source.Set] sends. Its methods may be called from any goroutine.
type Source struct {
	mu     sync.Mutex
	vols   []storage.Volume
	err    error
	wake   chan struct{}
	cond   chan struct{} // closed and replaced after every listing
	notify bool

	blocks  []storage.Volume // every Block call, in order
	script  []error          // what the next Block calls return
	then    func(context.Context, storage.Volume) error
	blocked chan struct{} // closed and replaced after every Block call
	release chan struct{} // closed by Release
	once    sync.Once
}

// New returns a source that lists vols. With notify it is also a
// [storage.Notifier], so a monitor lists again as soon as the test sets
// other volumes; without, the monitor finds them at its next poll.
func New(notify bool, vols ...storage.Volume) *Source {
	return &Source{vols: vols, wake: make(chan struct{}, 1), cond: make(chan struct{}), notify: notify,
		blocked: make(chan struct{}), release: make(chan struct{})}
}

// Volumes returns the volumes set, or the error set.
func (s *Source) Volumes(ctx context.Context) ([]storage.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.cond)
	s.cond = make(chan struct{})
	if s.err != nil {
		return nil, s.err
	}
	return slices.Clone(s.vols), nil
}

// Notify wakes the monitor after each [Source.Set]; it fails unless the
// source was made with notify.
func (s *Source) Notify(ctx context.Context) (<-chan struct{}, error) {
	if !s.notify {
		return nil, errors.New("no notifications")
	}
	out := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Set replaces the volumes, clears an error set by [Source.SetErr], and
// waits (see [Source.Sync]) until a monitor has listed them, so that what
// follows sees the new set.
func (s *Source) Set(t testing.TB, vols ...storage.Volume) {
	t.Helper()
	s.mu.Lock()
	s.vols, s.err = vols, nil
	s.mu.Unlock()
	s.Sync(t)
}

// SetErr makes every listing fail with err until the next [Source.Set],
// and waits until a monitor has tried.
func (s *Source) SetErr(t testing.TB, err error) {
	t.Helper()
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.Sync(t)
}

// Sync waits for two listings that started after it was called (one may be
// under way already with the old set), waking the monitor if the source
// notifies. It fails the test if they do not come within [Eventually].
func (s *Source) Sync(t testing.TB) {
	t.Helper()
	for range 2 {
		s.mu.Lock()
		c := s.cond
		s.mu.Unlock()
		if s.notify {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		select {
		case <-c:
		case <-time.After(Eventually):
			t.Fatal("the monitor did not list the volumes again")
		}
	}
}

// Block records v and returns the next scripted error (see
// [Source.ScriptBlock]); once the script is used up, what the function
// given to [Source.BlockWith] returns, else nil.
func (s *Source) Block(ctx context.Context, v storage.Volume) error {
	s.mu.Lock()
	s.blocks = append(s.blocks, v)
	close(s.blocked)
	s.blocked = make(chan struct{})
	var err error
	scripted := len(s.script) > 0
	if scripted {
		err, s.script = s.script[0], s.script[1:]
	}
	then := s.then
	s.mu.Unlock()
	switch {
	case errors.Is(err, Hang):
		<-s.release
		return err
	case scripted:
		return err
	case then != nil:
		return then(ctx, v)
	}
	return nil
}

// ScriptBlock adds errs to what the next Block calls return, one each, in
// order (nil for a block that succeeds, [Hang] for one that hangs).
func (s *Source) ScriptBlock(errs ...error) {
	s.mu.Lock()
	s.script = append(s.script, errs...)
	s.mu.Unlock()
}

// BlockWith makes Block call f once the script is used up, such as the
// system's own block (storage.OSSource().Block).
func (s *Source) BlockWith(f func(context.Context, storage.Volume) error) {
	s.mu.Lock()
	s.then = f
	s.mu.Unlock()
}

// Release lets every hanging Block call return, now and later.
func (s *Source) Release() { s.once.Do(func() { close(s.release) }) }

// Blocks returns the volumes Block was called with, in order.
func (s *Source) Blocks() []storage.Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.blocks)
}

// WaitBlocks waits until Block has been called n times and returns the
// volumes it was called with; it fails the test if that takes longer than
// [Eventually].
func (s *Source) WaitBlocks(t testing.TB, n int) []storage.Volume {
	t.Helper()
	deadline := time.After(Eventually)
	for {
		s.mu.Lock()
		got, c := slices.Clone(s.blocks), s.blocked
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c:
		case <-deadline:
			t.Fatalf("Block was called %d times, want %d", len(got), n)
		}
	}
}
