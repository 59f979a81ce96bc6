package process

import (
	"context"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/abi"
)

// A channel serves a connection that presents a token the host sent over
// gRPC, and nothing else.
// testChannel opens a channel serving a dispatcher for the token t0.
func testChannel(t *testing.T, t0 byte) (d *abi.Dispatcher, addr string, token []byte) {
	d = abi.NewDispatcher(sdk.NewDescriptor("p", sdk.PointScore), nil, sdk.LoggerHandle{})
	token = make([]byte, TokenSize)
	token[0] = t0
	addr, err := openChannel(d, token)
	if err != nil {
		t.Fatal(err)
	}
	return d, addr, token
}

// describe calls OpDescribe on ch and checks the plugin's name.
func describe(ctx context.Context, t *testing.T, ch *Channel) {
	t.Helper()
	resp, err := ch.Call(ctx, []byte{byte(abi.OpDescribe)})
	if err != nil {
		t.Fatal(err)
	}
	r := abi.NewReader(resp)
	if err := abi.DecodeStatus(r); err != nil || r.Str() != "p" {
		t.Fatalf("describe over the channel: %v", err)
	}
}

func TestChannelNeedsTheToken(t *testing.T) {
	d, addr, token := testChannel(t, 7)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	ch, err := DialChannel(addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	for range 2 { // one connection, several calls
		describe(ctx, t, ch)
	}

	wrong := make([]byte, TokenSize)
	bad, err := DialChannel(addr, wrong)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Call(ctx, []byte{byte(abi.OpDescribe)}); err == nil {
		t.Fatal("a connection with an unknown token was served")
	}
	if _, err := openChannel(d, token[:5]); err == nil {
		t.Fatal("a short token was accepted")
	}
}

// A call whose context ends is broken off instead of waiting for an answer.
func TestChannelCallStopsAtItsContext(t *testing.T) {
	_, addr, token := testChannel(t, 9)
	ch, err := DialChannel(addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ch.Call(ctx, []byte{byte(abi.OpDescribe)}); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
