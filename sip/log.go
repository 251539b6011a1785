package sip

import (
	"context"
	"log/slog"

	"github.com/rs/zerolog"
)

// slogHandler writes sipgo's log/slog records to a zerolog logger, so that
// the SIP stack's logs join the product's own, in its format.
type slogHandler struct {
	log   zerolog.Logger
	attrs []slog.Attr
}

// NewSlogHandler returns a log/slog handler writing to l. The program
// makes it sipgo's default logger too (sip.SetDefaultLogger), which the
// few lines sipgo writes outside any transport or transaction use.
func NewSlogHandler(l zerolog.Logger) slog.Handler {
	return &slogHandler{log: l.With().Str("component", "sipgo").Logger()}
}

func (h *slogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return h.log.GetLevel() <= zerologLevel(level)
}

func zerologLevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	case l >= slog.LevelInfo:
		return zerolog.InfoLevel
	default:
		return zerolog.DebugLevel
	}
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	ev := h.log.WithLevel(zerologLevel(r.Level))
	add := func(a slog.Attr) bool {
		ev = ev.Interface(a.Key, a.Value.Any())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	ev.Msg(r.Message)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &slogHandler{log: h.log, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	return &slogHandler{log: h.log.With().Str("group", name).Logger(), attrs: h.attrs}
}

// zerologDict starts a nested object of a log line.
func zerologDict() *zerolog.Event { return zerolog.Dict() }
