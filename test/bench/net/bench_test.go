// Package net benchmarks pod-to-pod traffic across two node namespaces
// against node-to-node traffic on the same underlay, per backend. Run with
// SKIFF_BENCH=1 as root; it prints
//
//	BENCH net_<backend>_throughput_ratio <pod/underlay bytes per second>
//	BENCH net_<backend>_rtt_ratio <pod/underlay round-trip time>
//
// Targets: overlay throughput >= 0.7, routed >= 0.9.
package net

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/plugins/network/overlay"
	"github.com/skiff-sh/skiff/plugins/network/routed"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/test/harness"
	"github.com/skiff-sh/skiff/test/images"
)

const streamFor = 3 * time.Second

func TestBenchNet(t *testing.T) {
	if os.Getenv("SKIFF_BENCH") != "1" {
		t.Skip("benchmark: set SKIFF_BENCH=1")
	}
	images.RequireHost(t, "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "iptables")
	for _, b := range []struct {
		name    string
		factory sdk.Factory
	}{{overlay.Name, overlay.Factory}, {routed.Name, routed.Factory}} {
		t.Run(b.name, func(t *testing.T) {
			c := harness.New(t, harness.Options{Nodes: 2})
			nodes := c.Nodes()
			pods := make([]string, 2)
			podIPs := make([]net.IP, 2)
			infos := []network.NodeInfo{
				{Name: nodes[0].Name, IP: nodes[0].IP.String(), PodCIDR: "10.244.1.0/24"},
				{Name: nodes[1].Name, IP: nodes[1].IP.String(), PodCIDR: "10.244.2.0/24"},
			}
			for i, n := range nodes {
				p, err := b.factory(sdk.Args(fmt.Sprintf(`{"ipamDir": %q}`, n.DataDir+"/ipam")), nil)
				if err != nil {
					t.Fatal(err)
				}
				plan, err := p.(network.Plugin).Plan(context.Background(), network.Input{Self: infos[i], Peers: infos, ClusterCIDR: "10.244.0.0/16", UnderlayMTU: c.MTU})
				if err != nil {
					t.Fatal(err)
				}
				fab, err := n.NewFabric()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { fab.Teardown(context.Background()) })
				if _, err := fab.Sync(context.Background(), plan); err != nil {
					t.Fatal(err)
				}
				pn, err := n.PodNetwork(c, plan.CNIConfig)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { n.TeardownPods(pn) })
				att, err := n.AttachPod(pn, "bench-"+n.Name)
				if err != nil {
					t.Fatal(err)
				}
				pods[i], podIPs[i] = att.NetNSPath, att.IP
			}
			under := measure(t, nodes[0].NetNS, nodes[1].NetNS, nodes[1].IP)
			pod := measure(t, pods[0], pods[1], podIPs[1])
			t.Logf("underlay: %.0f MB/s, rtt %s; pods: %.0f MB/s, rtt %s", under.bps/1e6, under.rtt, pod.bps/1e6, pod.rtt)
			fmt.Printf("BENCH net_%s_throughput_ratio %.3f\n", b.name, pod.bps/under.bps)
			fmt.Printf("BENCH net_%s_rtt_ratio %.3f\n", b.name, float64(pod.rtt)/float64(under.rtt))
		})
	}
}

type result struct {
	bps float64
	rtt time.Duration
}

// measure streams TCP from the client namespace to a server at ip in the
// server namespace for streamFor, then times 1-byte TCP ping-pongs.
func measure(t *testing.T, clientNS, serverNS string, ip net.IP) result {
	t.Helper()
	sink, err := harness.ListenIn(serverNS, "tcp", net.JoinHostPort(ip.String(), "5201"))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var first [1]byte
				if _, err := io.ReadFull(c, first[:]); err != nil {
					return
				}
				if first[0] == 's' { // stream: discard
					io.Copy(io.Discard, c)
					return
				}
				io.Copy(c, c) // ping-pong: echo
			}()
		}
	}()
	dial := harness.DialerIn(clientNS)
	addr := sink.Addr().String()

	c, err := dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	buf[0] = 's'
	var sent int64
	start := time.Now()
	for time.Since(start) < streamFor {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	c.Close()

	c, err = dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	c.Write([]byte{'p'})
	const rounds = 3000
	var ping [8]byte
	start = time.Now()
	for i := range rounds {
		binary.LittleEndian.PutUint64(ping[:], uint64(i))
		if _, err := c.Write(ping[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, ping[:]); err != nil {
			t.Fatal(err)
		}
	}
	return result{bps: float64(sent) / elapsed.Seconds(), rtt: time.Since(start) / rounds}
}
