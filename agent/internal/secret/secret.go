package secret

// Buffer is a fixed-size piece of memory for key material. Its zero value
// is not usable: make one with [New] or [From]. It is not safe for
// concurrent use: its owner serialises access.
type Buffer struct {
	b      []byte // the caller's bytes, into mem
	mem    []byte // the whole mapping, nil for heap memory
	locked bool
}

// New returns a zeroed Buffer of n bytes (n > 0). It never fails: when the
// OS will not give a private mapping, the Buffer is ordinary heap memory,
// and when it will not lock it, [Buffer.Locked] reports false.
func New(n int) *Buffer {
	if n <= 0 {
		panic("secret: New with a size that is not positive")
	}
	mem, locked, err := alloc(n)
	if err != nil {
		return &Buffer{b: make([]byte, n)}
	}
	return &Buffer{b: mem[:n:n], mem: mem, locked: locked}
}

// From returns a new Buffer holding a copy of p, and zeroes p.
func From(p []byte) *Buffer {
	b := New(max(len(p), 1))
	b.b = b.b[:len(p)]
	copy(b.b, p)
	clear(p)
	return b
}

// Bytes returns the buffer's memory, or nil after Destroy. The slice must
// not be used after Destroy.
func (b *Buffer) Bytes() []byte { return b.b }

// Locked reports whether the memory is locked against swap (and, on Linux,
// marked to be left out of core dumps). It is false for a buffer that fell
// back to ordinary memory, and after Destroy.
func (b *Buffer) Locked() bool { return b.locked }

// Destroy zeroes the memory and gives it back to the OS. It is idempotent,
// and does nothing on a nil Buffer.
func (b *Buffer) Destroy() {
	if b == nil || b.b == nil {
		return
	}
	clear(b.b[:cap(b.b)])
	if b.mem != nil {
		clear(b.mem)
		free(b.mem, b.locked)
	}
	b.b, b.mem, b.locked = nil, nil, false
}
