package controllerproc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// PluginName is the name the host dispenses a controller process under.
const PluginName = "controller"

// StartRequest is what the host hands a controller process once it is up:
// where the API server is, how to trust it, who the controller is, and the
// controller's args from the config.
type StartRequest struct {
	// Name is the controller's name in the config (process-controllers[].name).
	Name string `json:"name"`
	// Server is the API server's URL; CAPEM the PEM of the CA that signed
	// its certificate.
	Server string `json:"server"`
	CAPEM  string `json:"caPEM"`
	// Token is a bearer token issued to user "controller:NAME".
	Token string `json:"token"`
	// Args are the entry's args as JSON (null when none are configured).
	Args json.RawMessage `json:"args,omitempty"`
}

// Stats are a controller's reconcile metrics: calls and errors from
// skiff_controller_reconcile_total, and the 99th percentile from
// skiff_controller_reconcile_duration_seconds as the upper bound of the
// bucket it falls in.
type Stats struct {
	Calls  uint64        `json:"calls"`
	Errors uint64        `json:"errors"`
	P99    time.Duration `json:"p99"`
}

// The gRPC service. Like sdk/process it is written by hand: three methods
// carrying JSON in a BytesValue need no .proto file. Nothing here is on a
// hot path (one Start per process, a Stats per `skiff plugins`).
const serviceName = "skiff.controller.v1.Controller"

// service is what the plugin side implements.
type service interface {
	start(ctx context.Context, req *StartRequest) error
	stop(ctx context.Context) error
	stats(ctx context.Context) (map[string]Stats, error)
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*service)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Start", Handler: unary(func(ctx context.Context, s service, in []byte) (any, error) {
			req := new(StartRequest)
			if err := json.Unmarshal(in, req); err != nil {
				return nil, fmt.Errorf("decode start request: %w", err)
			}
			return nil, s.start(ctx, req)
		})},
		{MethodName: "Stop", Handler: unary(func(ctx context.Context, s service, _ []byte) (any, error) {
			return nil, s.stop(ctx)
		})},
		{MethodName: "Stats", Handler: unary(func(ctx context.Context, s service, _ []byte) (any, error) {
			return s.stats(ctx)
		})},
	},
	Metadata: "skiff/controller/v1",
}

// unary adapts a JSON method to a gRPC handler; an error becomes a status
// with its message, so the host can show it as is.
func unary(fn func(ctx context.Context, s service, in []byte) (any, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.BytesValue)
		if err := decode(in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, srv.(service), in.Value)
		if err != nil {
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
		data, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		return wrapperspb.Bytes(data), nil
	}
}

// Client is the host's side of a controller process's connection.
type Client struct{ conn *grpc.ClientConn }

func (c *Client) call(ctx context.Context, method string, in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, "/"+serviceName+"/"+method, wrapperspb.Bytes(data), resp); err != nil {
		if st, ok := status.FromError(err); ok {
			if st.Code() == codes.Unimplemented {
				return fmt.Errorf("the binary does not serve the controller contract (is it a plugin of another extension point? controller binaries call controllerproc.Serve)")
			}
			return fmt.Errorf("%s", st.Message())
		}
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(resp.Value, out)
}

// Start hands the process its environment; its run function starts.
func (c *Client) Start(ctx context.Context, req *StartRequest) error {
	return c.call(ctx, "Start", req, nil)
}

// Stop ends the run function and waits for it to return (or ctx to end).
func (c *Client) Stop(ctx context.Context) error { return c.call(ctx, "Stop", struct{}{}, nil) }

// Stats returns the reconcile metrics of each controller the process runs.
func (c *Client) Stats(ctx context.Context) (map[string]Stats, error) {
	var out map[string]Stats
	return out, c.call(ctx, "Stats", struct{}{}, &out)
}

// ClientPlugins is the plugin set a host passes to go-plugin; dispensing
// PluginName yields a *Client.
func ClientPlugins() plugin.PluginSet { return plugin.PluginSet{PluginName: &grpcPlugin{}} }

type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl service
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, p.impl)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{conn: conn}, nil
}
