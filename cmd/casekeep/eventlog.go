package main

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	"github.com/kardianos/service"
)

// eventLogHandler writes log records to the service manager's log (the
// Windows Event Log), as one text line each, at the record's level.
type eventLogHandler struct {
	l     service.Logger
	level slog.Level
	attrs []slog.Attr
	group string
}

var eventLogMu sync.Mutex

func (h eventLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h eventLogHandler) Handle(ctx context.Context, r slog.Record) error {
	eventLogMu.Lock()
	defer eventLogMu.Unlock()
	var b bytes.Buffer
	var th slog.Handler = slog.NewTextHandler(&b, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{} // the Event Log keeps both
			}
			return a
		},
	})
	th = th.WithAttrs(h.attrs)
	if h.group != "" {
		th = th.WithGroup(h.group)
	}
	if err := th.Handle(ctx, r); err != nil {
		return err
	}
	msg := string(bytes.TrimSpace(b.Bytes()))
	switch {
	case r.Level >= slog.LevelError:
		return h.l.Error(msg)
	case r.Level >= slog.LevelWarn:
		return h.l.Warning(msg)
	}
	return h.l.Info(msg)
}

func (h eventLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h eventLogHandler) WithGroup(name string) slog.Handler {
	h.group = name
	return h
}
