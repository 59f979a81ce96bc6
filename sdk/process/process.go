// Package process serves a plugin from its own binary over
// github.com/hashicorp/go-plugin (gRPC, AutoMTLS when the host asks for it).
// A plugin binary is a few lines:
//
//	func main() { process.Serve(zonepref.Descriptor, zonepref.New) }
//
// The gRPC service carries the abi messages wrapped in a protobuf
// BytesValue, so the process and WASM loaders share one encoding and one
// plugin-side Dispatcher: a unary method for the handshake and rare calls,
// a bidirectional stream (a session) per caller, and, where the plugin can
// open one, a plain unix-socket channel for the per-pod scheduler calls
// (see channel.go).
package process

import (
	"context"
	"log/slog"
	"os"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/abi"
)

// Handshake is the go-plugin handshake both sides must agree on. The magic
// cookie only stops a plugin binary from being run by hand by mistake; it
// is not a security measure (the host pins binaries by SHA-256 for that).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  2, // 2: sessions (a plugin built for 1 has no Session method)
	MagicCookieKey:   "SKIFF_PLUGIN",
	MagicCookieValue: "9f5c2e1a-skiff-plugin-abi-v1",
}

// PluginName is the name the plugin is dispensed under.
const PluginName = "skiff"

const callMethod = "/skiff.plugin.v1.Plugin/Call"

// MaxMessageSize bounds one request or response. gRPC's default of 4 MiB
// is less than a proxy ruleset for a few thousand services; both sides
// raise it to the default memory limit of a WASM plugin.
const MaxMessageSize = 256 << 20

// Serve runs the plugin built by factory until the host ends the process.
// Run by hand, the binary prints that it is a skiff plugin and exits.
func Serve(desc sdk.Descriptor, factory sdk.Factory) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("plugin", desc.Name)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins: plugin.PluginSet{PluginName: &grpcPlugin{
			dispatcher: abi.NewDispatcher(desc, factory, sdk.LoggerHandle{Log: log}),
		}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))...)
		},
	})
}

// DialOptions are the gRPC options a host passes to plugin.ClientConfig
// (GRPCDialOptions) so that large messages pass.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize))}
}

// ClientPlugins is the plugin set a host passes to plugin.ClientConfig;
// dispensing PluginName yields a *Client.
func ClientPlugins() plugin.PluginSet {
	return plugin.PluginSet{PluginName: &grpcPlugin{}}
}

// Client sends abi requests to a plugin process.
type Client struct{ conn *grpc.ClientConn }

// Call sends one request (op byte + payload) and returns the response.
func (c *Client) Call(ctx context.Context, req []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, callMethod, wrapperspb.Bytes(req), out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	dispatcher *abi.Dispatcher
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, p.dispatcher)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{conn: conn}, nil
}

// serviceDesc is written by hand: methods carrying opaque bytes need no
// .proto file or generated code.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: "skiff.plugin.v1.Plugin",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Call", Handler: callHandler}, {MethodName: "OpenChannel", Handler: openChannelHandler}},
	Streams:     []grpc.StreamDesc{sessionStream},
	Metadata:    "skiff/plugin/v1",
}

func callHandler(srv any, ctx context.Context, decode func(any) error, intercept grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.BytesValue)
	if err := decode(in); err != nil {
		return nil, err
	}
	d := srv.(*abi.Dispatcher)
	handle := func(ctx context.Context, req any) (any, error) {
		return serve(ctx, d, req.(*wrapperspb.BytesValue).Value), nil
	}
	if intercept == nil {
		return handle(ctx, in)
	}
	return intercept(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: callMethod}, handle)
}

// serve runs one unary request.
func serve(ctx context.Context, d *abi.Dispatcher, req []byte) *wrapperspb.BytesValue {
	var w abi.Writer
	handle(ctx, d, req, &w)
	return wrapperspb.Bytes(w.Buf)
}
