package process

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/skiff-sh/skiff/sdk/abi"
)

// A channel is the fast path for per-pod calls: a plain unix socket
// carrying length-prefixed abi messages, one request and its response at a
// time. A gRPC round trip costs ~6 goroutine and thread wake-ups (each
// side's transport reader and writer goroutines around the caller); in a
// VM on a busy machine that was ~140 us per call against ~35 us for a
// socket read and write. On Linux the socket then carries a mailbox offer
// (mailbox_linux.go), and calls go through shared memory, the socket
// keeping only messages too large for it.
//
// The channel is opened through the gRPC connection, which go-plugin
// authenticates both ways (AutoMTLS): the host sends a random token with
// OpenChannel, the plugin listens on an abstract unix socket (no file, no
// network) and serves only connections that start with that token. The
// traffic never leaves the machine's kernel.
const openChannelMethod = "/skiff.plugin.v1.Plugin/OpenChannel"

// TokenSize is the length of a channel token.
const TokenSize = 32

// channelServer is the plugin side: one listener per process, whatever
// number of connections the host opens.
var channelServer struct {
	mu     sync.Mutex
	addr   string
	tokens [][TokenSize]byte
}

// openChannel registers the host's token and returns the socket address,
// listening on first use.
func openChannel(d *abi.Dispatcher, token []byte) (string, error) {
	if len(token) != TokenSize {
		return "", fmt.Errorf("channel token of %d bytes, want %d", len(token), TokenSize)
	}
	s := &channelServer
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		var name [16]byte
		if _, err := rand.Read(name[:]); err != nil {
			return "", err
		}
		ln, err := net.Listen("unix", fmt.Sprintf("@skiff-plugin-%x", name)) // abstract: Linux only
		if err != nil {
			return "", fmt.Errorf("channel listener: %w", err)
		}
		s.addr = ln.Addr().String()
		go acceptChannels(ln, d)
	}
	s.tokens = append(s.tokens, [TokenSize]byte(token))
	return s.addr, nil
}

func acceptChannels(ln net.Listener, d *abi.Dispatcher) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go serveChannel(conn, d)
	}
}

func knownToken(t []byte) bool {
	s := &channelServer
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := 0
	for i := range s.tokens {
		ok |= subtle.ConstantTimeCompare(s.tokens[i][:], t)
	}
	return ok == 1
}

// serveChannel answers the requests of one connection until the host
// closes it.
func serveChannel(conn net.Conn, d *abi.Dispatcher) {
	defer conn.Close()
	var token [TokenSize]byte
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, token[:]); err != nil || !knownToken(token[:]) {
		return
	}
	conn.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := bufio.NewReaderSize(conn, 64<<10)
	var (
		req []byte
		w   abi.Writer
	)
	head, offered, box, err := readOffer(conn)
	if err != nil {
		return
	}
	if offered {
		// Only requests too large for the mailbox come over the socket.
		ack := []byte{0}
		if box != nil {
			ack[0] = 1
			served := make(chan struct{})
			go func() { serveMailbox(ctx, box, conn, d); close(served) }()
			defer func() { box.close(); <-served; box.unmap() }()
		}
		if _, err := conn.Write(ack); err != nil {
			return
		}
	} else if req, err = readBody(r, head, req); err != nil {
		return
	} else {
		handle(ctx, d, req, &w)
		if err := writeFrame(conn, w.Buf); err != nil {
			return
		}
	}
	for {
		if req, err = readFrame(r, req); err != nil {
			return
		}
		handle(ctx, d, req, &w)
		if err := writeFrame(conn, w.Buf); err != nil {
			return
		}
	}
}

// readFrame reads one length-prefixed message into buf's storage.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	return readBody(r, head, buf)
}

// readBody reads the message whose length head holds.
func readBody(r io.Reader, head [4]byte, buf []byte) ([]byte, error) {
	n := binary.LittleEndian.Uint32(head[:])
	if n > MaxMessageSize {
		return nil, fmt.Errorf("channel message of %d bytes, more than %d", n, MaxMessageSize)
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// writeFrame writes msg after its length, in one system call.
func writeFrame(conn net.Conn, msg []byte) error {
	var head [4]byte
	binary.LittleEndian.PutUint32(head[:], uint32(len(msg)))
	_, err := (&net.Buffers{head[:], msg}).WriteTo(conn)
	return err
}

func openChannelHandler(srv any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.BytesValue)
	if err := decode(in); err != nil {
		return nil, err
	}
	addr, err := openChannel(srv.(*abi.Dispatcher), in.Value)
	if err != nil {
		return nil, err
	}
	return wrapperspb.String(addr), nil
}

// Channel is the host's end of one channel connection. It is not safe for
// concurrent use: take one per call in flight.
type Channel struct {
	conn  net.Conn
	r     *bufio.Reader
	box   *mailbox // nil: every call goes over the socket
	resp  []byte
	fired chan struct{} // the context's end broke the connection off
}

// OpenChannel asks the plugin for a channel and connects to it; n more
// connections can be made with DialChannel and the same address and token.
func (c *Client) OpenChannel(ctx context.Context) (addr string, token []byte, err error) {
	token = make([]byte, TokenSize)
	if _, err := rand.Read(token); err != nil {
		return "", nil, err
	}
	out := new(wrapperspb.StringValue)
	if err := c.conn.Invoke(ctx, openChannelMethod, wrapperspb.Bytes(token), out); err != nil {
		return "", nil, fmt.Errorf("opening a plugin channel: %w", err)
	}
	return out.Value, token, nil
}

// DialChannel connects to a channel the plugin opened and offers it a
// mailbox (shared memory) for calls.
func DialChannel(addr string, token []byte) (*Channel, error) {
	ch, err := dialChannel(addr, token)
	if err != nil {
		return nil, err
	}
	if ch.box, err = offerMailbox(ch.conn); err != nil {
		// A plugin built before mailboxes drops the connection at the offer.
		ch.conn.Close()
		return dialChannel(addr, token)
	}
	return ch, nil
}

func dialChannel(addr string, token []byte) (*Channel, error) {
	conn, err := net.DialTimeout("unix", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connecting to the plugin channel: %w", err)
	}
	if _, err := conn.Write(token); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connecting to the plugin channel: %w", err)
	}
	return &Channel{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), fired: make(chan struct{}, 1)}, nil
}

var errPluginClosed = errors.New("the plugin process closed the channel")

// Call sends one request (op byte + payload) and returns the response,
// valid until the next call. When ctx ends first the call is broken off
// and Call returns ctx's error; the channel must not be used again after
// any error.
func (ch *Channel) Call(ctx context.Context, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ch.box != nil && len(req) <= len(ch.box.req) {
		resp, onSocket, err := ch.callMailbox(ctx, req)
		if !onSocket {
			return resp, err
		}
		req = nil // the response is on the socket
	}
	return ch.exchange(ctx, req)
}

// exchange writes req as a frame (unless nil) and reads the response frame.
func (ch *Channel) exchange(ctx context.Context, req []byte) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() {
		ch.conn.SetDeadline(time.Unix(1, 0)) // unblocks the read or write
		ch.fired <- struct{}{}
	})
	var err error
	if req != nil {
		err = writeFrame(ch.conn, req)
	}
	if err == nil {
		ch.resp, err = readFrame(ch.r, ch.resp)
	}
	if !stop() {
		<-ch.fired
		if err == nil { // the answer came first: the connection stays good
			ch.conn.SetDeadline(time.Time{})
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errPluginClosed
		}
		return nil, err
	}
	return ch.resp, nil
}

// Close ends the connection and the mailbox.
func (ch *Channel) Close() {
	if ch.box != nil {
		ch.box.close()
		ch.box.unmap()
		ch.box = nil
	}
	ch.conn.Close()
}
