package classify_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mixedFiles writes n files in dir, as a swept Downloads folder or USB
// stick might hold them: text, Word, Excel and PDF files (one in ten with
// a marker), binaries, and a few sparse files of the given size (plain,
// starting like a PDF, and a Word document with its directory at the
// end). It returns their paths.
func mixedFiles(tb testing.TB, dir string, n int, large int64) []string {
	tb.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 1)) // the same files whatever the large size
	words := strings.Fields("the child visited school on monday and the family support worker met her mother at home to review the plan")
	text := func(k int) string {
		var b strings.Builder
		for b.Len() < k {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		return b.String()
	}
	mark := func(s string) string {
		if rng.IntN(10) == 0 {
			return s + " " + marker
		}
		return s
	}
	paths := make([]string, 0, n)
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, p)
	}
	sparse := func(name string, head, tail []byte) {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			tb.Fatal(err)
		}
		f.Truncate(large)
		f.WriteAt(head, 0)
		f.WriteAt(tail, large-int64(len(tail)))
		f.Close()
		paths = append(paths, p)
	}
	doc := makeDocx(tb, para(text(2000)), para("header"))
	for i := 0; len(paths) < n; i++ {
		switch k := i % 100; {
		case k == 99 && i/100%10 == 0: // ten in ten thousand
			switch i / 1000 % 3 {
			case 0:
				sparse(fmt.Sprintf("large%d.bin", i), nil, nil)
			case 1:
				sparse(fmt.Sprintf("large%d.pdf", i), []byte("%PDF-1.7\n"), []byte("%%EOF\n"))
			default:
				dir := doc[strings.LastIndex(string(doc), "PK\x01\x02"):]
				sparse(fmt.Sprintf("large%d.docx", i), doc, dir)
			}
		case k < 30:
			write(fmt.Sprintf("note%d.txt", i), []byte(mark(text(1000+rng.IntN(20000)))))
		case k < 55:
			write(fmt.Sprintf("report%d.docx", i), makeDocx(tb, para(mark(text(2000+rng.IntN(30000)))), para(mark("Page header"))))
		case k < 70:
			write(fmt.Sprintf("book%d.xlsx", i), makeXlsx(tb, strings.Fields(mark(text(500+rng.IntN(5000)))), "x"))
		case k < 90:
			write(fmt.Sprintf("scan%d.pdf", i), onePagePDF("BT /F1 12 Tf ("+mark(text(500+rng.IntN(8000)))+") Tj ET", rng.IntN(4) != 0))
		default:
			b := make([]byte, 4096+rng.IntN(60000))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			write(fmt.Sprintf("app%d.bin", i), b)
		}
	}
	return paths
}

// memPeak samples the heap in use and the memory obtained from the OS
// every 5 ms until stop is called, and returns the peaks.
func memPeak() (stop func() (heapInuse, sys uint64)) {
	var heap, sys atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			heap.Store(max(heap.Load(), ms.HeapInuse))
			sys.Store(max(sys.Load(), ms.Sys))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return heap.Load(), sys.Load()
	}
}

// BenchmarkClassifyMixed classifies 10,000 mixed files (500 with -short),
// opening each with os.Open, with the large sparse files at 50 MiB and at
// 500 MiB: the peak heap should not differ, since no more than MaxBytes is
// read from any file. It reports files/s, the peak heap in use and the
// peak memory obtained from the OS.
func BenchmarkClassifyMixed(b *testing.B) {
	n := 10000
	if testing.Short() {
		n = 500
	}
	for _, large := range []int64{50 << 20, 500 << 20} {
		b.Run(fmt.Sprintf("files=%d/large=%dMiB", n, large>>20), func(b *testing.B) {
			paths := mixedFiles(b, b.TempDir(), n, large)
			c := newClassifier(b, rules())
			ctx := context.Background()
			var found, partial int
			runtime.GC()
			stop := memPeak()
			start := time.Now()
			for b.Loop() {
				found, partial = 0, 0
				for _, p := range paths {
					f, err := os.Open(p)
					if err != nil {
						b.Fatal(err)
					}
					fi, err := f.Stat()
					if err != nil {
						b.Fatal(err)
					}
					res, err := c.Classify(ctx, filepath.ToSlash(p), f, fi.Size())
					f.Close()
					if err != nil {
						b.Fatal(err)
					}
					if res.CaseFile {
						found++
					}
					if res.Partial {
						partial++
					}
				}
			}
			elapsed := time.Since(start)
			heap, sys := stop()
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "files/s")
			b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(sys)/(1<<20), "peak-sys-MiB")
			b.ReportMetric(float64(found), "case-files")
			b.ReportMetric(float64(partial), "partial")
		})
	}
}

// BenchmarkClassifyFormat classifies one small file of each format.
func BenchmarkClassifyFormat(b *testing.B) {
	marked, clean := samples(b)
	clean["1MiB.txt"] = bytes.Repeat([]byte("the child visited school on monday. "), 1<<20/36)
	bin := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{}).Read(bin)
	clean["1MiB.bin"] = bin
	c := newClassifier(b, rules())
	for _, set := range []map[string][]byte{marked, clean} {
		for name, d := range set {
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(d)))
				for b.Loop() {
					classifyBytes(b, c, name, d)
				}
			})
		}
	}
}
