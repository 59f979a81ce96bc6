package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/skiff-sh/skiff/sdk/abi"
)

// A session is one long-lived bidirectional gRPC stream carrying one
// request and its response at a time. A unary call opens an HTTP/2 stream
// and sends headers and trailers per call; on a session each call is one
// message each way, which is what makes the per-pod scheduler call cheap.
// The host keeps a pool of sessions per plugin process, one per caller in
// flight.
const sessionMethod = "/skiff.plugin.v1.Plugin/Session"

var sessionStream = grpc.StreamDesc{StreamName: "Session", Handler: sessionHandler, ServerStreams: true, ClientStreams: true}

// Session is the host's end of a session. It is not safe for concurrent
// use: take one per call in flight.
type Session struct {
	stream    grpc.ClientStream
	cancel    context.CancelFunc
	req, resp wrapperspb.BytesValue
}

// OpenSession starts a session with the plugin process.
func (c *Client) OpenSession() (*Session, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.conn.NewStream(ctx, &sessionStream, sessionMethod)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening a plugin session: %w", err)
	}
	return &Session{stream: st, cancel: cancel}, nil
}

// Call sends one request (op byte + payload) and returns the response,
// valid until the next call. When ctx ends first the session is torn down
// (a call cannot be abandoned half-way on a stream) and Call returns ctx's
// error; the session must not be used again after any error.
func (s *Session) Call(ctx context.Context, req []byte) ([]byte, error) {
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	s.req.Value = req
	err := s.stream.SendMsg(&s.req)
	if err == nil {
		err = s.stream.RecvMsg(&s.resp)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("the plugin process ended the session")
		}
		return nil, err
	}
	return s.resp.Value, nil
}

// Close ends the session.
func (s *Session) Close() { s.cancel() }

// sessionHandler serves one session until the host closes it.
func sessionHandler(srv any, stream grpc.ServerStream) error {
	d := srv.(*abi.Dispatcher)
	var (
		in  wrapperspb.BytesValue
		out wrapperspb.BytesValue
		w   abi.Writer
	)
	for {
		if err := stream.RecvMsg(&in); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		handle(stream.Context(), d, in.Value, &w)
		out.Value = w.Buf
		if err := stream.SendMsg(&out); err != nil {
			return err
		}
	}
}

// handle runs one request into w, turning a plugin panic into an error
// response so that one bad request does not kill the process and every
// call in flight.
func handle(ctx context.Context, d *abi.Dispatcher, req []byte, w *abi.Writer) {
	defer func() {
		if v := recover(); v != nil {
			w.Reset()
			w.U8(uint8(abi.StatusError))
			w.Str(fmt.Sprintf("plugin panicked: %v\n%s", v, debug.Stack()))
		}
	}()
	d.Handle(ctx, req, w)
}
