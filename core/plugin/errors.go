package plugin

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
)

// errUnloaded is returned by calls to a plugin removed from the selection.
var errUnloaded = errors.New("plugin was unloaded by a configuration change")

// brokenError marks a transport failure (trap, deadline, dead process)
// after which an instance must not be reused.
type brokenError struct{ err error }

func (e brokenError) Error() string { return e.err.Error() }
func (e brokenError) Unwrap() error { return e.err }

func broken(err error) error { return brokenError{err} }

func isBroken(err error) bool {
	var b brokenError
	return errors.As(err, &b)
}

// lineLogger turns a plugin's stderr into log records, one per line.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a runaway line without newline
		l.log.Info(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}
