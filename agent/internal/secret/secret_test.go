package secret

import "testing"

func TestDestroy(t *testing.T) {
	b := New(16)
	copy(b.Bytes(), "lease key")
	b.Destroy()
	if b.Bytes() != nil || b.Locked() {
		t.Fatal("a destroyed buffer still has memory")
	}
	b.Destroy()
	var nilBuf *Buffer
	nilBuf.Destroy()

	// Memory that fell back to the heap is zeroed where it is.
	heap := make([]byte, 16)
	h := &Buffer{b: heap}
	copy(h.Bytes(), "lease key")
	h.Destroy()
	for _, c := range heap {
		if c != 0 {
			t.Fatal("Destroy left the key in heap memory")
		}
	}
}

func TestFrom(t *testing.T) {
	src := []byte("identity text")
	b := From(src)
	defer b.Destroy()
	if string(b.Bytes()) != "identity text" {
		t.Fatalf("From copied %q", b.Bytes())
	}
	for _, c := range src {
		if c != 0 {
			t.Fatal("From did not zero its source")
		}
	}
	if e := From(nil); len(e.Bytes()) != 0 {
		t.Fatal("From(nil) is not empty")
	}
}
