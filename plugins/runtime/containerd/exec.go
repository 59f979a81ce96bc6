package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
)

// Exec runs a process in running container id, with the container's
// environment, user and working directory, and returns its exit code.
// Cancelling ctx kills the process.
func (r *Runtime) Exec(ctx context.Context, id string, opts ExecOptions) (int32, error) {
	ctx = r.ns(ctx)
	if len(opts.Command) == 0 {
		return -1, fmt.Errorf("exec in container %s: command is empty", id)
	}
	task, err := r.loadTask(ctx, id)
	if err != nil {
		return -1, err
	}
	if task == nil {
		return -1, fmt.Errorf("exec in container %s: container is not running", id)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	proc := *spec.Process
	proc.Args = opts.Command
	proc.Terminal = opts.TTY

	var stdinDone chan struct{}
	stdin := opts.Stdin
	if stdin != nil {
		stdinDone = make(chan struct{})
		stdin = &eofSignal{r: stdin, done: stdinDone}
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if stdout == stderr {
		// Two copiers write concurrently: share the writer behind a mutex.
		w := &lockedWriter{w: stdout}
		stdout, stderr = w, w
	}
	ioOpts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(fifoDir(r.cfg.DataDir))}
	if opts.TTY {
		ioOpts = append(ioOpts, cio.WithTerminal)
	}
	execID := "exec-" + randomHex(8)
	p, err := task.Exec(ctx, execID, &proc, cio.NewCreator(ioOpts...))
	if err != nil {
		return -1, fmt.Errorf("exec %q in container %s: %w", opts.Command, id, err)
	}
	// Delete on a fresh context: the process must be reaped even when ctx
	// was cancelled.
	defer p.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	exited, err := p.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec %q in container %s: %w", opts.Command, id, err)
	}
	if err := p.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec %q in container %s: %w", opts.Command, id, err)
	}
	if stdinDone != nil {
		go func() {
			select {
			case <-stdinDone:
				p.CloseIO(ctx, containerd.WithStdinCloser)
			case <-ctx.Done():
			}
		}()
	}
	if opts.TTY && opts.Resize != nil {
		go func() {
			for {
				select {
				case size, ok := <-opts.Resize:
					if !ok {
						return
					}
					p.Resize(ctx, size.Width, size.Height)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	select {
	case es := <-exited:
		// Wait for the copiers so every byte of output reached the writers.
		p.IO().Wait()
		code, _, err := es.Result()
		if err != nil {
			return -1, fmt.Errorf("exec %q in container %s: %w", opts.Command, id, err)
		}
		return int32(code), nil
	case <-ctx.Done():
		return -1, fmt.Errorf("exec %q in container %s: %w", opts.Command, id, ctx.Err())
	}
}

// eofSignal closes done when its reader is exhausted. EOF is reported only
// by a read that returns no data, so the copier has written every byte to
// the FIFO before the process's stdin is closed.
type eofSignal struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
	eof  bool
}

func (e *eofSignal) Read(p []byte) (int, error) {
	if e.eof {
		e.once.Do(func() { close(e.done) })
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.eof = true
		if n > 0 {
			return n, nil
		}
		e.once.Do(func() { close(e.done) })
	} else if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
