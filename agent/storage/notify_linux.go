package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A kernel that kept the flag raised would make poll return at once, over
// and over; past notifyBurst notifications in a second, each is followed
// by a pause of notifyGap. Ordinary mounts are never delayed.
const (
	notifyBurst = 50
	notifyGap   = 20 * time.Millisecond
)

// notify polls the mount table for POLLPRI, which the kernel raises on an
// open /proc mountinfo file after every change to the mount namespace.
func (s *linuxSource) notify(ctx context.Context) (<-chan struct{}, error) {
	fd, err := unix.Open(s.p.MountInfo, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("storage: watching the mount table: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return nil, errors.New("storage: the mount table is not a /proc file, so changes are only seen by polling")
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("storage: watching the mount table: %w", err)
	}
	// stopped guards efd: the wake-up below must never write to a closed
	// (and perhaps reused) descriptor.
	var mu sync.Mutex
	stopped := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
	})
	ch := make(chan struct{}, 1)
	go func() {
		defer func() {
			stop()
			mu.Lock()
			stopped = true
			unix.Close(efd)
			mu.Unlock()
			unix.Close(fd)
			close(ch)
		}()
		fds := []unix.PollFd{
			{Fd: int32(fd), Events: unix.POLLPRI},
			{Fd: int32(efd), Events: unix.POLLIN},
		}
		var window time.Time
		burst := 0
		for {
			fds[0].Revents, fds[1].Revents = 0, 0
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if fds[1].Revents != 0 || ctx.Err() != nil {
				return
			}
			if fds[0].Revents&unix.POLLNVAL != 0 {
				return
			}
			if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
				select {
				case ch <- struct{}{}:
				default:
				}
				if now := time.Now(); now.Sub(window) > time.Second {
					window, burst = now, 0
				}
				if burst++; burst <= notifyBurst {
					continue
				}
				t := time.NewTimer(notifyGap)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
	}()
	return ch, nil
}
