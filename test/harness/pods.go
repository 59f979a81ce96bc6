package harness

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/skiff-sh/skiff/core/node/fabric"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
)

// NewFabric returns a network fabric acting in the node's namespace, with
// its state in the node's data dir; a second call is the same fabric after
// an agent restart.
func (n *Node) NewFabric() (*fabric.Fabric, error) {
	return fabric.New(fabric.Config{StateDir: filepath.Join(n.DataDir, "fabric"), NetNS: n.NetNS})
}

// PodNetwork attaches pods on the node through the bridge plugin's CNI
// mechanism with a backend's CNI configuration (Plan.CNIConfig). Tear it
// down with TeardownPods.
func (n *Node) PodNetwork(c *Cluster, conflist []byte) (*bridge.Network, error) {
	return bridge.New(bridge.Config{
		DataDir: n.DataDir, Bridge: "skiff0", ConfList: conflist,
		NetNSPrefix: fmt.Sprintf("skh-%s-%s-pod-", c.ID, n.Name),
	})
}

// AttachPod attaches pod uid; CNI plugins run as child processes in the
// node's namespace.
func (n *Node) AttachPod(pods *bridge.Network, uid string) (att bridge.Attachment, err error) {
	err = n.Do(func() (err error) {
		att, err = pods.Attach(context.Background(), bridge.PodRef{UID: uid, Namespace: "default", Name: uid})
		return err
	})
	if err != nil {
		return att, fmt.Errorf("node %s: attach pod %s: %w", n.Name, uid, err)
	}
	return att, nil
}

// TeardownPods detaches every pod and removes the pod bridge.
func (n *Node) TeardownPods(pods *bridge.Network) error {
	return n.Do(func() error { return pods.Teardown(context.Background()) })
}
