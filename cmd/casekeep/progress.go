package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress keeps one status line at the bottom of a terminal, redrawn at
// most ten times a second. Log lines written through it clear the status
// line first. On anything but a terminal it prints nothing.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	line  string
	drawn time.Time
}

func newProgress(f *os.File) *progress {
	return &progress{w: f, tty: term.IsTerminal(int(f.Fd()))}
}

// Set shows a new status line.
func (p *progress) Set(format string, args ...any) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = fmt.Sprintf(format, args...)
	if time.Since(p.drawn) >= 100*time.Millisecond {
		p.draw()
	}
}

// Done replaces the status line with a final line, and stops showing one.
func (p *progress) Done(format string, args ...any) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = ""
	fmt.Fprintf(p.w, "\r\x1b[K"+format+"\n", args...)
}

func (p *progress) draw() {
	fmt.Fprintf(p.w, "\r\x1b[K%s", p.line)
	p.drawn = time.Now()
}

// Write writes log output above the status line.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.line != "" {
		fmt.Fprint(p.w, "\r\x1b[K")
		defer p.draw()
	}
	return p.w.Write(b)
}
