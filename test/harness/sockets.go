package harness

import (
	"context"
	"net"

	"github.com/skiff-sh/skiff/core/node/fabric"
)

// ListenIn listens inside the namespace at path; a socket stays in the
// namespace it was created in, so the listener serves from any goroutine.
func ListenIn(path, network, addr string) (l net.Listener, err error) {
	err = fabric.InNetNS(path, func() error {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// DialerIn dials from inside the namespace at path (for http.Transport's
// DialContext).
func DialerIn(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = fabric.InNetNS(path, func() error {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
