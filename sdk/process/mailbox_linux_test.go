package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/abi"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Every new connection gets a mailbox that answers its first call at once
// (the plugin may start serving it after the host's first post).
func TestChannelCallsGoThroughAMailbox(t *testing.T) {
	_, addr, token := testChannel(t, 11)
	for range 30 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		ch, err := DialChannel(addr, token)
		if err != nil {
			t.Fatal(err)
		}
		if ch.box == nil {
			t.Fatal("the channel has no mailbox")
		}
		for range 3 {
			describe(ctx, t, ch)
		}
		ch.Close()
		cancel()
	}
}

// slotScorer scores each candidate with its slot; when block is set it
// waits for it first.
type slotScorer struct{ block chan struct{} }

func (s slotScorer) Score(ctx context.Context, _ *scheduler.Pod, _ []*scheduler.Node, cand []int32, out []int64) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
		}
	}
	for i, c := range cand {
		out[i] = int64(c)
	}
	return nil
}

// scoreChannel opens a channel to a configured slot scorer.
func scoreChannel(t *testing.T, t0 byte, s slotScorer) *Channel {
	t.Helper()
	d := abi.NewDispatcher(sdk.NewDescriptor("p", sdk.PointScore), func(sdk.Args, sdk.Handle) (any, error) { return s, nil }, sdk.LoggerHandle{})
	token := make([]byte, TokenSize)
	token[0] = t0
	if _, err := openChannel(d, token); err != nil { // registers the token
		t.Fatal(err)
	}
	// The process's one listener serves the dispatcher it was opened
	// with; this test's is served by a listener of its own.
	ln, err := net.Listen("unix", fmt.Sprintf("@skiff-test-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go acceptChannels(ln, d)
	ch, err := DialChannel(ln.Addr().String(), token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ch.Close)
	var w abi.Writer
	w.U8(uint8(abi.OpConfigure))
	w.Bytes([]byte("{}"))
	mustOK(t, ch, w.Buf)
	return ch
}

func mustOK(t *testing.T, ch *Channel, req []byte) *abi.Reader {
	t.Helper()
	resp, err := ch.Call(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	r := abi.NewReader(resp)
	if err := abi.DecodeStatus(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// A request or a response larger than the mailbox goes over the socket,
// and the mailbox serves the calls around it.
func TestMailboxOversizeMessagesGoOverTheSocket(t *testing.T) {
	defer func(n int) { mailboxArea = n }(mailboxArea)
	mailboxArea = 4096
	ch := scoreChannel(t, 12, slotScorer{})
	if ch.box == nil {
		t.Fatal("the channel has no mailbox")
	}
	table := scheduler.NewNodeTable()
	for i := range 200 { // a full sync of ~10 KiB
		table.Set(&scheduler.Node{Name: fmt.Sprintf("node-%04d-%s", i, strings.Repeat("x", 30))})
	}
	table.Read(func(snap scheduler.Snapshot) {
		var w abi.Writer
		w.U8(uint8(abi.OpSync))
		w.PutDelta(snap, 0, nil)
		if len(w.Buf) <= mailboxArea {
			t.Fatalf("sync of %d bytes fits the mailbox", len(w.Buf))
		}
		mustOK(t, ch, w.Buf)
		for _, n := range []int{3, 200} { // 200 scores do not fit the mailbox
			cand := make([]int32, n)
			for i := range cand {
				cand[i] = int32(i)
			}
			w.Reset()
			w.U8(uint8(abi.OpScore))
			w.PutSchedCall(snap, snap.Gen, &scheduler.Pod{Name: "p"}, cand, nil)
			scores := make([]int64, n)
			r := mustOK(t, ch, w.Buf)
			r.Scores(scores)
			if err := r.Err(); err != nil || scores[n-1] != int64(n-1) {
				t.Fatalf("%d candidates: scores end %v, err %v", n, scores[n-1], err)
			}
		}
	})
}

// A call through the mailbox stops at its deadline.
func TestMailboxCallStopsAtItsDeadline(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	ch := scoreChannel(t, 13, slotScorer{block: block})
	var w abi.Writer
	w.U8(uint8(abi.OpScore))
	w.PutSchedCall(scheduler.Snapshot{}, 0, &scheduler.Pod{Name: "p"}, nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := ch.Call(ctx, w.Buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("the call returned %v after its 50ms deadline", waited)
	}
}

// fakePlugin listens like a plugin's channel and runs serve on each
// connection after its token.
func fakePlugin(t *testing.T, serve func(n int, conn net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("unix", fmt.Sprintf("@skiff-test-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for n := 0; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			var token [TokenSize]byte
			if _, err := io.ReadFull(conn, token[:]); err != nil {
				conn.Close()
				continue
			}
			go serve(n, conn)
		}
	}()
	return ln.Addr().String()
}

// A plugin that dies during a call is noticed at once, not at the deadline.
func TestMailboxNoticesThePluginGone(t *testing.T) {
	addr := fakePlugin(t, func(_ int, conn net.Conn) {
		_, _, box, err := readOffer(conn)
		if err != nil || box == nil {
			conn.Close()
			return
		}
		conn.Write([]byte{1})
		for box.hdr.seq.Load() == 0 { // the request came: die without answering
			time.Sleep(time.Millisecond)
		}
		box.unmap()
		conn.Close()
	})
	ch, err := DialChannel(addr, make([]byte, TokenSize))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := ch.Call(ctx, []byte{byte(abi.OpDescribe)}); !errors.Is(err, errPluginClosed) {
		t.Fatalf("err = %v, want %v", err, errPluginClosed)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("noticed the plugin gone after %v", waited)
	}
}

// A plugin built before mailboxes drops the connection at the offer; the
// host dials again and calls over the socket.
func TestChannelToAPluginWithoutMailboxes(t *testing.T) {
	d := abi.NewDispatcher(sdk.NewDescriptor("p", sdk.PointScore), nil, sdk.LoggerHandle{})
	addr := fakePlugin(t, func(_ int, conn net.Conn) {
		defer conn.Close()
		var w abi.Writer
		for { // the old serving loop: the offer's marker is too large a frame
			req, err := readFrame(conn, nil)
			if err != nil {
				return
			}
			handle(context.Background(), d, req, &w)
			if writeFrame(conn, w.Buf) != nil {
				return
			}
		}
	})
	ch, err := DialChannel(addr, make([]byte, TokenSize))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if ch.box != nil {
		t.Fatal("a mailbox with a plugin that cannot serve one")
	}
	describe(t.Context(), t, ch)
}

// The host may post its first request before the plugin's server of the
// mailbox starts: the request is answered all the same.
func TestMailboxAnswersARequestPostedBeforeServing(t *testing.T) {
	m, fd, err := newMailbox()
	if err != nil {
		t.Fatal(err)
	}
	defer m.unmap()
	plugin, err := mapMailbox(fd)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	m.req[0] = byte(abi.OpDescribe)
	posted := m.post(1)
	d := abi.NewDispatcher(sdk.NewDescriptor("p", sdk.PointScore), nil, sdk.LoggerHandle{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	served := make(chan struct{})
	go func() { serveMailbox(ctx, plugin, a, d); close(served) }()
	defer func() { m.close(); <-served; plugin.unmap() }()
	deadline := time.Now().Add(5 * time.Second)
	if err := m.await(posted, &m.hdr.hostParked, hostPark, deadline, func() error { return nil }); err != nil {
		t.Fatalf("the first request was not answered: %v", err)
	}
	r := abi.NewReader(m.resp[:m.hdr.respLen.Load()])
	if err := abi.DecodeStatus(r); err != nil || r.Str() != "p" {
		t.Fatalf("describe: %v", err)
	}
}
