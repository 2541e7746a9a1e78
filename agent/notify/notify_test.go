package notify_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/notify"
)

type recorder struct{ got [][2]string }

func (r *recorder) Notify(_ context.Context, title, body string) error {
	r.got = append(r.got, [2]string{title, body})
	return nil
}

func TestLimited(t *testing.T) {
	rec := &recorder{}
	l := notify.NewLimited(rec, time.Minute)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	l.SetClock(func() time.Time { return now })
	var pending []func()
	var delays []time.Duration
	l.SetAfter(func(d time.Duration, f func()) { delays = append(delays, d); pending = append(pending, f) })
	ctx := context.Background()
	l.Notify(ctx, "casekeep", "one")
	now = now.Add(10 * time.Second)
	l.Notify(ctx, "casekeep", "two")
	l.Notify(ctx, "casekeep", "three")
	if len(rec.got) != 1 || rec.got[0][1] != "one" {
		t.Fatalf("got %v", rec.got)
	}
	// One flush is scheduled, for when the minute is up.
	if len(pending) != 1 || delays[0] != 50*time.Second {
		t.Fatalf("flushes %d, delays %v", len(pending), delays)
	}
	now = now.Add(50 * time.Second)
	pending[0]()
	if len(rec.got) != 2 || rec.got[1][1] != "three (and 1 more: see casekeep status)" {
		t.Fatalf("got %v", rec.got)
	}
	// A flush with nothing held shows nothing.
	pending[0]()
	if len(rec.got) != 2 {
		t.Fatalf("got %v", rec.got)
	}
	// Control characters and overlong texts are cleaned.
	now = now.Add(time.Hour)
	l.Notify(ctx, "a\x1b[31mb\u202eexe.pdf", strings.Repeat("x", 1000)+"\n")
	last := rec.got[2]
	if strings.ContainsAny(last[0], "\x1b\u202e") || len([]rune(last[1])) > 300 || !strings.HasSuffix(last[1], "x…") {
		t.Errorf("not cleaned: %q / %d runes", last[0], len([]rune(last[1])))
	}
}

func TestDesktopArguments(t *testing.T) {
	var name string
	var args []string
	n := notify.DesktopWith(func(_ context.Context, nm string, a ...string) error { name, args = nm, a; return nil })
	body := `-rf "quoted" 'single' $(whoami)`
	if err := n.Notify(context.Background(), "casekeep", body); err != nil {
		t.Fatal(err)
	}
	switch runtime.GOOS {
	case "linux":
		if name != "notify-send" || !slices.Equal(args[len(args)-3:], []string{"--", "casekeep", body}) {
			t.Errorf("%s %q", name, args)
		}
	case "darwin":
		if name != "osascript" || args[len(args)-1] != body {
			t.Errorf("%s %q", name, args)
		}
	}
}

func TestDesktopUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if runtime.GOOS == "windows" {
		t.Skip("powershell.exe is found by its full path on Windows")
	}
	if err := notify.Desktop().Notify(context.Background(), "casekeep", "x"); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("without the notifier program: %v, want ErrUnavailable", err)
	}
}
