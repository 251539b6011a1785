package sip

import (
	"context"
	"log/slog"
	"slices"

	"github.com/rs/zerolog"
)

// slogHandler writes sipgo's log/slog records to a zerolog logger, so that
// the SIP stack's logs join the product's own, in its format. The
// stack's attributes are written with the prefix sipgo_ (sipgo_caller is
// the part of the stack that logs, not a calling party), each once, the
// last value kept: a line never has a key twice, nor one of the
// product's own keys with the stack's meaning.
type slogHandler struct {
	log    zerolog.Logger
	prefix string // of every key: sipgo_ and the groups opened
	attrs  []slog.Attr
}

// NewSlogHandler returns a log/slog handler writing to l. The program
// makes it sipgo's default logger too (sip.SetDefaultLogger), which the
// few lines sipgo writes outside any transport or transaction use.
func NewSlogHandler(l zerolog.Logger) slog.Handler {
	return &slogHandler{log: l, prefix: "sipgo_"}
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
	attrs := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs())
	attrs = append(attrs, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		a.Key = h.prefix + a.Key
		attrs = append(attrs, a)
		return true
	})
	ev := h.log.WithLevel(zerologLevel(r.Level))
	for i, a := range attrs {
		if slices.ContainsFunc(attrs[i+1:], func(b slog.Attr) bool { return b.Key == a.Key }) {
			continue // a later one has the key
		}
		if err, ok := a.Value.Any().(error); ok {
			ev = ev.Str(a.Key, err.Error()) // its message, not its fields
			continue
		}
		ev = ev.Interface(a.Key, a.Value.Any())
	}
	ev.Msg(r.Message)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := &slogHandler{log: h.log, prefix: h.prefix, attrs: slices.Clone(h.attrs)}
	for _, a := range attrs {
		a.Key = h.prefix + a.Key
		out.attrs = append(out.attrs, a)
	}
	return out
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	return &slogHandler{log: h.log, prefix: h.prefix + name + "_", attrs: h.attrs}
}

// zerologDict starts a nested object of a log line.
func zerologDict() *zerolog.Event { return zerolog.Dict() }
