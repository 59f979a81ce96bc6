package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Exec streams travel as frames in both directions of one HTTP request
// (HTTP/2 or full-duplex HTTP/1.1): a channel byte, a big-endian uint32
// length and the payload. The client sends stdin, stdin-close and resize
// frames; the agent sends stdout, stderr and, last, one exit frame.
const (
	ChannelStdin      byte = 0
	ChannelStdout     byte = 1
	ChannelStderr     byte = 2
	ChannelResize     byte = 3 // JSON {"width":w,"height":h}
	ChannelStdinClose byte = 4 // empty
	ChannelExit       byte = 5 // JSON ExitFrame
	maxFrame               = 1 << 20
)

// ExitFrame ends an exec stream: the command's exit code, or the error
// that kept it from running.
type ExitFrame struct {
	ExitCode int32  `json:"exitCode"`
	Error    string `json:"error,omitempty"`
}

// FrameWriter writes frames, flushing each; it is safe for concurrent use.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewFrameWriter writes frames to w (flushed when w is an http.Flusher).
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// WriteFrame writes one frame.
func (f *FrameWriter) WriteFrame(channel byte, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		chunk := payload
		if len(chunk) > maxFrame {
			chunk = chunk[:maxFrame]
		}
		if err := f.write(channel, chunk); err != nil {
			return err
		}
		if payload = payload[len(chunk):]; len(payload) == 0 {
			return nil
		}
	}
}

func (f *FrameWriter) write(channel byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = channel
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := f.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := f.w.Write(payload); err != nil {
		return err
	}
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return nil
}

// ChannelWriter is an io.Writer sending every write as a frame on channel.
func (f *FrameWriter) ChannelWriter(channel byte) io.Writer {
	return channelWriter{f: f, channel: channel}
}

type channelWriter struct {
	f       *FrameWriter
	channel byte
}

func (c channelWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.f.WriteFrame(c.channel, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (channel byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("exec stream: frame of %d bytes exceeds the %d byte limit", n, maxFrame)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], payload, nil
}
