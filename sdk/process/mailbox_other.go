//go:build !linux

package process

import (
	"context"
	"encoding/binary"
	"io"
	"net"

	"github.com/skiff-sh/skiff/sdk/abi"
)

// Mailboxes need memfd and futexes: elsewhere every call goes over the
// socket, and a mailbox offer is declined.
type mailbox struct{ req []byte }

const upgradeMarker = ^uint32(0)

func (*mailbox) close() {}
func (*mailbox) unmap() {}

func offerMailbox(net.Conn) (*mailbox, error) { return nil, nil }

func readOffer(conn net.Conn) (head [4]byte, offered bool, m *mailbox, err error) {
	_, err = io.ReadFull(conn, head[:])
	return head, err == nil && binary.LittleEndian.Uint32(head[:]) == upgradeMarker, nil, err
}

func serveMailbox(context.Context, *mailbox, net.Conn, *abi.Dispatcher) {}

func (*Channel) callMailbox(context.Context, []byte) ([]byte, bool, error) {
	panic("no mailbox on this platform")
}
