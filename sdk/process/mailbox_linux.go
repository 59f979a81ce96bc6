package process

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/sdk/abi"
)

// A mailbox is a channel's fast path: shared memory holding one request
// and one response, and a sequence word both sides wait on with a futex.
// A socket round trip wakes each side through its netpoller (epoll, then
// the goroutine's P); in this VM that was ~45 us of a 55 us call with 10 us
// of work, against ~25 us for the same call through futexes. Spinning
// before parking (50 us on the host, 100-300 us in the plugin) made
// back-to-back calls faster still but not the scheduler's, whose own work
// between calls needs the core the spinner holds. Messages larger than an
// area go over the socket.
//
// Protocol: the host writes the request and its length, makes seq odd and
// wakes the plugin if it is parked; the plugin answers into the response
// area (or, when the response is too large, marks it so and writes it to
// the socket as a frame), makes seq even and wakes the host if parked.
type mailbox struct {
	mem       []byte
	hdr       *mailboxHeader
	req, resp []byte
}

type mailboxHeader struct {
	seq          atomic.Uint32
	reqLen       atomic.Uint32
	respLen      atomic.Uint32
	hostParked   atomic.Uint32
	pluginParked atomic.Uint32
	closed       atomic.Uint32
}

const (
	mailboxHeaderSize = 4096 // keeps the areas page-aligned, as abi views need
	// respOnSocket in respLen says the response went over the socket.
	respOnSocket = ^uint32(0)
	// upgradeMarker is the frame length the host sends, with the mailbox's
	// file descriptor attached, to offer a mailbox. It exceeds
	// MaxMessageSize, so a plugin that predates mailboxes drops the
	// connection and the host dials again without one.
	upgradeMarker = ^uint32(0)
	// hostPark bounds one futex wait of a host in a call, so that it
	// notices its deadline or a plugin that went away. pluginPark is the
	// plugin's between calls, a safety net only: closing the mailbox
	// wakes it.
	hostPark   = 2 * time.Millisecond
	pluginPark = time.Second
)

// mailboxArea is the size of each of the request and response areas.
var mailboxArea = 2 << 20

func mailboxSize() int { return mailboxHeaderSize + 2*mailboxArea }

// newMailbox creates the shared memory, returning the mailbox and the file
// descriptor to send to the plugin (the caller closes it).
func newMailbox() (*mailbox, int, error) {
	fd, err := unix.MemfdCreate("skiff-plugin-mailbox", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, -1, fmt.Errorf("mailbox: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(mailboxSize())); err != nil {
		unix.Close(fd)
		return nil, -1, fmt.Errorf("mailbox: %w", err)
	}
	m, err := mapMailbox(fd)
	if err != nil {
		unix.Close(fd)
		return nil, -1, err
	}
	return m, fd, nil
}

// mapMailbox maps a mailbox created by newMailbox, checking its size.
func mapMailbox(fd int) (*mailbox, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	if st.Size != int64(mailboxSize()) {
		return nil, fmt.Errorf("mailbox of %d bytes, want %d", st.Size, mailboxSize())
	}
	mem, err := unix.Mmap(fd, 0, mailboxSize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	return &mailbox{
		mem:  mem,
		hdr:  (*mailboxHeader)(unsafe.Pointer(&mem[0])),
		req:  mem[mailboxHeaderSize : mailboxHeaderSize+mailboxArea],
		resp: mem[mailboxHeaderSize+mailboxArea:],
	}, nil
}

func (m *mailbox) unmap() { unix.Munmap(m.mem) }

// close tells the plugin to stop serving the mailbox.
func (m *mailbox) close() {
	m.hdr.closed.Store(1)
	futexWake(&m.hdr.seq)
}

// post publishes a request already copied into the request area.
func (m *mailbox) post(n int) uint32 {
	m.hdr.reqLen.Store(uint32(n))
	seq := m.hdr.seq.Add(1)
	if m.hdr.pluginParked.Load() != 0 {
		futexWake(&m.hdr.seq)
	}
	return seq
}

// await waits until seq moves past posted. It gives up when deadline
// passes (zero: never) or gone reports the peer gone.
func (m *mailbox) await(posted uint32, parked *atomic.Uint32, slice time.Duration, deadline time.Time, gone func() error) error {
	moved := func() bool { return m.hdr.seq.Load() != posted }
	for {
		parked.Store(1)
		if moved() { // checked after parked is visible: a post cannot be missed
			parked.Store(0)
			return nil
		}
		wait := slice
		if !deadline.IsZero() {
			wait = min(wait, time.Until(deadline))
		}
		if wait > 0 {
			futexWait(&m.hdr.seq, posted, wait)
		}
		parked.Store(0)
		if moved() {
			return nil
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return errDeadline
		}
		if err := gone(); err != nil {
			return err
		}
	}
}

var errDeadline = errors.New("mailbox: deadline")

// The mailbox is shared between processes: its futexes are not private
// (no FUTEX_PRIVATE_FLAG).
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
)

func futexWait(addr *atomic.Uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func futexWake(addr *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, 1, 0, 0, 0)
}

// offerMailbox sends a new mailbox over conn; the plugin's one-byte answer
// says whether it took it. A plugin that predates mailboxes closes the
// connection, which the caller sees as an error.
func offerMailbox(conn net.Conn) (*mailbox, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, nil
	}
	m, fd, err := newMailbox()
	if err != nil {
		return nil, nil // no shared memory here: stay on the socket
	}
	var marker [4]byte
	binary.LittleEndian.PutUint32(marker[:], upgradeMarker)
	_, _, err = uc.WriteMsgUnix(marker[:], unix.UnixRights(fd), nil)
	unix.Close(fd)
	if err != nil {
		m.unmap()
		return nil, err
	}
	var ack [1]byte
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(ack[:])
	conn.SetReadDeadline(time.Time{})
	if err != nil || ack[0] != 1 {
		m.unmap()
		return nil, err
	}
	return m, nil
}

// acceptMailbox maps the mailbox a host offered with the upgrade marker
// just read, from the descriptor attached to it.
func acceptMailbox(oob []byte) (*mailbox, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("mailbox offer without a descriptor")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("mailbox offer without a descriptor")
	}
	defer unix.Close(fds[0])
	return mapMailbox(fds[0])
}

// readOffer reads the first 4 bytes of a connection after its token: the
// upgrade marker with a mailbox attached (offered; m is nil when it could
// not be mapped), or the length of a first frame.
func readOffer(conn net.Conn) (head [4]byte, offered bool, m *mailbox, err error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		_, err = io.ReadFull(conn, head[:])
		return head, false, nil, err
	}
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(head[:], oob)
	if err == nil && n < len(head) {
		_, err = io.ReadFull(conn, head[n:])
	}
	if err != nil || binary.LittleEndian.Uint32(head[:]) != upgradeMarker {
		return head, false, nil, err
	}
	m, _ = acceptMailbox(oob[:oobn])
	return head, true, m, nil
}

// serveMailbox answers the requests posted to m until the mailbox is
// closed (by the host, or by the plugin when the connection ends) or ctx
// ends. Responses too large for the area go to conn as frames.
func serveMailbox(ctx context.Context, m *mailbox, conn net.Conn, d *abi.Dispatcher) {
	var w abi.Writer
	var answered uint32 // a mailbox starts at 0; the host may post before this runs
	stopped := func() error {
		if m.hdr.closed.Load() != 0 || ctx.Err() != nil {
			return errMailboxClosed
		}
		return nil
	}
	for {
		if m.await(answered, &m.hdr.pluginParked, pluginPark, time.Time{}, stopped) != nil {
			return
		}
		posted := m.hdr.seq.Load()
		if n := int(m.hdr.reqLen.Load()); n <= len(m.req) {
			handle(ctx, d, m.req[:n], &w)
		} else {
			w.Reset()
			w.U8(uint8(abi.StatusError))
			w.Str(fmt.Sprintf("request of %d bytes in a %d-byte mailbox", n, len(m.req)))
		}
		if len(w.Buf) <= len(m.resp) {
			copy(m.resp, w.Buf)
			m.hdr.respLen.Store(uint32(len(w.Buf)))
		} else {
			m.hdr.respLen.Store(respOnSocket)
			if writeFrame(conn, w.Buf) != nil {
				return
			}
		}
		answered = posted + 1
		m.hdr.seq.Store(answered)
		if m.hdr.hostParked.Load() != 0 {
			futexWake(&m.hdr.seq)
		}
	}
}

var errMailboxClosed = errors.New("mailbox closed")

// callMailbox runs one call through the mailbox. onSocket means the
// response is the next frame on the socket.
func (ch *Channel) callMailbox(ctx context.Context, req []byte) (resp []byte, onSocket bool, err error) {
	m := ch.box
	copy(m.req, req)
	posted := m.post(len(req))
	deadline, _ := ctx.Deadline()
	err = m.await(posted, &m.hdr.hostParked, hostPark, deadline, func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return ch.peerGone()
	})
	if err == errDeadline {
		err = context.DeadlineExceeded
	}
	if err != nil {
		return nil, false, err
	}
	n := m.hdr.respLen.Load()
	if n == respOnSocket {
		return nil, true, nil
	}
	if int(n) > len(m.resp) {
		return nil, false, fmt.Errorf("the plugin answered %d bytes in a %d-byte mailbox", n, len(m.resp))
	}
	// Copied out: the plugin must not be able to change an answer while
	// the host decodes it.
	ch.resp = append(ch.resp[:0], m.resp[:n]...)
	return ch.resp, false, nil
}

// peerGone reports the plugin's end of the connection closed (its process
// died) without consuming anything from the socket.
func (ch *Channel) peerGone() error {
	sc, err := ch.conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return err
	}
	var gone error
	err = sc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case err == nil && n == 0:
			gone = errPluginClosed
		case err != nil && err != unix.EAGAIN && err != unix.EINTR:
			gone = err
		}
		return true
	})
	if err != nil {
		return err
	}
	return gone
}
