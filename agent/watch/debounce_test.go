package watch

import (
	"fmt"
	"testing"
	"time"
)

// at returns a fake clock reading ms milliseconds after an arbitrary start.
func at(ms int) time.Time {
	return time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
}

func TestDebounceQuiet(t *testing.T) {
	d := newDebouncer(150*time.Millisecond, 2*time.Second)
	for _, ms := range []int{0, 50, 100} {
		d.touch("a", at(ms))
	}
	if p, ok := d.pop(at(249)); ok {
		t.Fatalf("popped %q before quiet", p)
	}
	if _, due, _ := d.next(); !due.Equal(at(250)) {
		t.Errorf("due %v, want %v", due, at(250))
	}
	if p, ok := d.pop(at(250)); !ok || p != "a" {
		t.Fatalf("pop at quiet = %q, %v", p, ok)
	}
	if d.len() != 0 {
		t.Errorf("len %d after pop", d.len())
	}
}

func TestDebounceMax(t *testing.T) {
	d := newDebouncer(150*time.Millisecond, 2*time.Second)
	ms := 0
	for ; ms < 2000; ms += 100 {
		d.touch("busy", at(ms))
		if p, ok := d.pop(at(ms)); ok {
			t.Fatalf("popped %q at %dms", p, ms)
		}
	}
	if p, ok := d.pop(at(2000)); !ok || p != "busy" {
		t.Fatalf("pop at max = %q, %v", p, ok)
	}
	// The next event starts a new debounce, with a new maximum.
	d.touch("busy", at(2050))
	if _, due, _ := d.next(); !due.Equal(at(2200)) {
		t.Errorf("due after a fresh event %v, want %v", due, at(2200))
	}
}

func TestDebounceOrder(t *testing.T) {
	d := newDebouncer(100*time.Millisecond, time.Second)
	d.touch("late", at(0))
	d.touch("early", at(10))
	d.touch("late", at(50)) // due 150; early is due 110
	d.touch("tie", at(10))  // same due as early, arrived later
	var got []string
	for {
		p, ok := d.pop(at(1000))
		if !ok {
			break
		}
		got = append(got, p)
	}
	if want := "[early tie late]"; fmt.Sprint(got) != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

func TestDebounceRemoveAndClear(t *testing.T) {
	d := newDebouncer(100*time.Millisecond, time.Second)
	for i := range 10 {
		d.touch(fmt.Sprint(i), at(i))
	}
	d.remove("0")
	d.remove("missing")
	if p, _, _ := d.next(); p != "1" || d.len() != 9 {
		t.Errorf("after remove: next %q, len %d", p, d.len())
	}
	d.clear()
	if _, _, ok := d.next(); ok || d.len() != 0 {
		t.Errorf("after clear: ok %v, len %d", ok, d.len())
	}
	d.touch("again", at(500))
	if p, ok := d.pop(at(600)); !ok || p != "again" {
		t.Errorf("after clear, pop = %q, %v", p, ok)
	}
}

// BenchmarkDebounce measures one event for one of many paths, at a rate
// where most paths are pending, and the pops that fall due.
func BenchmarkDebounce(b *testing.B) {
	const paths = 50_000
	names := make([]string, paths)
	for i := range names {
		names[i] = fmt.Sprintf("case-%05d/letters/letter-%d.docx", i%5000, i)
	}
	d := newDebouncer(150*time.Millisecond, 2*time.Second)
	now := at(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		now = now.Add(5 * time.Microsecond)
		d.touch(names[(i*7919)%paths], now)
		for {
			if _, ok := d.pop(now); !ok {
				break
			}
		}
	}
}
