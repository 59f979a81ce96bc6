package containerd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Container logs are files in the kubelet's CRI format, one per attempt at
// DataDir/pods/<pod uid>/<container>/<attempt>.log:
//
//	2024-05-01T10:00:00.123456789Z stdout F a complete line
//	2024-05-01T10:00:00.223456789Z stderr P a partial li
//
// F marks a line's end, P a chunk of a longer line (maxLogLine) or of
// output that ended without a newline.

const maxLogLine = 16 << 10

func (r *Runtime) logPath(podUID, container string, attempt int) string {
	return filepath.Join(r.podDir(podUID), container, strconv.Itoa(attempt)+".log")
}

// logFile serialises the stdout and stderr writers of one container into
// its log file.
type logFile struct {
	mu  sync.Mutex
	f   *os.File
	now func() time.Time
}

func openLogFile(path string) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &logFile{f: f, now: time.Now}, nil
}

func (l *logFile) writeRecord(stream string, tag byte, line []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	b.Grow(len(line) + 48)
	b.WriteString(l.now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteByte(tag)
	b.WriteByte(' ')
	b.Write(line)
	b.WriteByte('\n')
	_, err := l.f.Write(b.Bytes())
	return err
}

func (l *logFile) Close() error { return l.f.Close() }

// streamWriter turns one stream's bytes into log records.
type streamWriter struct {
	file    *logFile
	stream  string
	pending []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			break
		}
		if err := w.file.writeRecord(w.stream, 'F', w.pending[:i]); err != nil {
			return 0, err
		}
		w.pending = w.pending[i+1:]
	}
	for len(w.pending) >= maxLogLine {
		if err := w.file.writeRecord(w.stream, 'P', w.pending[:maxLogLine]); err != nil {
			return 0, err
		}
		w.pending = w.pending[maxLogLine:]
	}
	// Compact so a long-lived stream does not keep a grown backing array.
	w.pending = append([]byte(nil), w.pending...)
	return len(p), nil
}

// flush writes output that ended without a newline.
func (w *streamWriter) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	err := w.file.writeRecord(w.stream, 'P', w.pending)
	w.pending = nil
	return err
}

// ErrNoLogs is returned when the requested attempt has no log file.
var ErrNoLogs = fmt.Errorf("no logs: %w", ErrNotFound)

// Logs writes the logs of container in pod podUID to w.
func (r *Runtime) Logs(ctx context.Context, podUID, container string, opts LogOptions, w io.Writer) error {
	attempts, err := logAttempts(filepath.Join(r.podDir(podUID), container))
	if err != nil {
		return fmt.Errorf("logs of pod %s container %q: %w", podUID, container, err)
	}
	pick := len(attempts) - 1
	if opts.Previous {
		pick--
	}
	if pick < 0 {
		what := "container has not run"
		if opts.Previous {
			what = "container has no previous run"
		}
		return fmt.Errorf("logs of pod %s container %q: %s: %w", podUID, container, what, ErrNoLogs)
	}
	attempt := attempts[pick]
	f, err := os.Open(r.logPath(podUID, container, attempt))
	if err != nil {
		return fmt.Errorf("logs of pod %s container %q: %w", podUID, container, err)
	}
	defer f.Close()
	running := func() bool { return false }
	if opts.Follow && !opts.Previous {
		id := ContainerID(podUID, container, attempt)
		running = func() bool {
			st, err := r.ContainerStatus(ctx, id)
			return err == nil && st.State == StateRunning
		}
	}
	return copyLogs(ctx, f, opts, running, w)
}

// logAttempts lists the attempts that have a log file in dir, ascending.
func logAttempts(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var attempts []int
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log"))
		if err == nil && strings.HasSuffix(e.Name(), ".log") {
			attempts = append(attempts, n)
		}
	}
	sort.Ints(attempts)
	return attempts, nil
}

// logRecord is one decoded line of a CRI log file.
type logRecord struct {
	time    string
	partial bool
	content []byte
}

func parseRecord(line []byte) (logRecord, bool) {
	parts := bytes.SplitN(line, []byte{' '}, 4)
	if len(parts) < 3 {
		return logRecord{}, false
	}
	rec := logRecord{time: string(parts[0]), partial: string(parts[2]) == "P"}
	if len(parts) == 4 {
		rec.content = parts[3]
	}
	return rec, true
}

// followPoll is how often a followed log is checked for new lines.
const followPoll = 200 * time.Millisecond

// copyLogs decodes records from f into lines on w. With Follow it keeps
// reading until running reports false at end of file.
func copyLogs(ctx context.Context, f *os.File, opts LogOptions, running func() bool, w io.Writer) error {
	var lines [][]byte // ring of the last Tail lines before following
	var line []byte
	emit := func(rec logRecord, direct bool) error {
		if line == nil && opts.Timestamps {
			line = append(line, rec.time...)
			line = append(line, ' ')
		}
		line = append(line, rec.content...)
		if rec.partial {
			return nil
		}
		line = append(line, '\n')
		defer func() { line = nil }()
		if direct {
			_, err := w.Write(line)
			return err
		}
		lines = append(lines, line)
		if opts.Tail > 0 && len(lines) > opts.Tail {
			lines = lines[1:]
		}
		return nil
	}
	rd := bufio.NewReaderSize(f, 64<<10)
	direct := false
	var carry []byte
	for {
		chunk, err := rd.ReadBytes('\n')
		if len(chunk) > 0 && chunk[len(chunk)-1] != '\n' {
			// A record still being written: keep it for the next read.
			carry = append(carry, chunk...)
		} else if len(chunk) > 0 {
			full := append(carry, chunk[:len(chunk)-1]...)
			carry = nil
			if rec, ok := parseRecord(full); ok {
				if err := emit(rec, direct); err != nil {
					return err
				}
			}
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		if !direct {
			if !opts.Follow && line != nil {
				// Output that ended without a newline is a line of its own.
				lines = append(lines, line)
				if opts.Tail > 0 && len(lines) > opts.Tail {
					lines = lines[1:]
				}
				line = nil
			}
			for _, l := range lines {
				if _, err := w.Write(l); err != nil {
					return err
				}
			}
			lines, direct = nil, true
		}
		if !opts.Follow {
			return nil
		}
		// Check before waiting, then drain once more, so lines written just
		// before the exit are not lost.
		alive := running()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
		if !alive {
			rest, _ := io.ReadAll(rd)
			for _, l := range bytes.Split(append(carry, rest...), []byte{'\n'}) {
				if rec, ok := parseRecord(l); ok {
					if err := emit(rec, true); err != nil {
						return err
					}
				}
			}
			if line != nil {
				_, err := w.Write(line)
				return err
			}
			return nil
		}
	}
}
