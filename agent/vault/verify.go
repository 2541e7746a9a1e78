package vault

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"filippo.io/age"
)

// VerifyProblem is a sealed file that did not decrypt end to end.
type VerifyProblem struct {
	Path string
	Err  error
}

// Verify decrypts every sealed file in the index end to end with the device
// identity, discarding the plaintext, and returns those that fail: missing,
// changed since they were indexed, not openable, truncated or corrupt. It
// calls progress (if not nil) after each file, from one goroutine at a time.
func (v *Vault) Verify(ctx context.Context, progress func(done, total int)) ([]VerifyProblem, error) {
	recs, err := v.index.all()
	if err != nil {
		return nil, err
	}
	ids, err := v.cfg.Device.Identities()
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(recs))
	for p := range recs {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var (
		mu       sync.Mutex
		problems []VerifyProblem
		done     int
		wg       sync.WaitGroup
	)
	work := make(chan string)
	for range v.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				err := v.verifyOne(p, recs[p], ids)
				mu.Lock()
				if err != nil {
					problems = append(problems, VerifyProblem{Path: p, Err: err})
				}
				done++
				if progress != nil {
					progress(done, len(paths))
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range paths {
		if ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Path < problems[j].Path })
	return problems, nil
}

func (v *Vault) verifyOne(rel string, rec record, ids []age.Identity) error {
	f, fi, err := v.openSealed(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi.Size() != rec.CipherSize {
		return fmt.Errorf("is %d bytes, but %d were sealed", fi.Size(), rec.CipherSize)
	}
	r, err := age.Decrypt(bufio.NewReaderSize(f, 256<<10), ids...)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if n != rec.Size {
		return errors.New("decrypts to a different size than was sealed")
	}
	return nil
}
