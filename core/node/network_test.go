package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/sdk/network"
)

// recordingNetwork is a pod network that remembers its CNI configuration.
type recordingNetwork struct{ conf string }

func (r *recordingNetwork) Attach(context.Context, PodRef) (Attachment, error) {
	return Attachment{NetNSPath: r.conf}, nil
}
func (r *recordingNetwork) Detach(context.Context, string) error { return nil }

func newTestFabricNetwork(t *testing.T) (*fabricNetwork, *int) {
	built := 0
	fc := &FabricConfig{StateDir: t.TempDir(), NewNetwork: func(subnet string, conf []byte) (Network, error) {
		built++
		return &recordingNetwork{conf: subnet + " " + string(conf)}, nil
	}}
	return &fabricNetwork{cfg: fc, podCIDR: "10.244.3.0/24", ready: make(chan struct{})}, &built
}

// Pods wait for the first plan, attach with its CNI configuration, and a
// plan with another configuration replaces the pod network.
func TestFabricNetworkAttachesWithThePlannedConfiguration(t *testing.T) {
	n, built := newTestFabricNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := n.Attach(ctx, PodRef{UID: "a"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("attach before any plan: %v, want it to wait until the deadline", err)
	}
	done := make(chan Attachment)
	go func() {
		att, _ := n.Attach(context.Background(), PodRef{UID: "b"})
		done <- att
	}()
	if first, err := n.applied(network.Plan{CNIConfig: []byte("v1")}); err != nil || !first {
		t.Fatalf("first plan: first=%v, %v", first, err)
	}
	if att := <-done; att.NetNSPath != "10.244.3.0/24 v1" {
		t.Fatalf("waiting attach used %q", att.NetNSPath)
	}
	if first, err := n.applied(network.Plan{CNIConfig: []byte("v1")}); err != nil || first || *built != 1 {
		t.Fatalf("same plan again: first=%v, %v, networks built %d, want 1", first, err, *built)
	}
	if _, err := n.applied(network.Plan{CNIConfig: []byte("v2")}); err != nil || *built != 2 {
		t.Fatalf("changed plan: %v, networks built %d, want 2", err, *built)
	}
	if att, _ := n.Attach(context.Background(), PodRef{UID: "c"}); att.NetNSPath != "10.244.3.0/24 v2" {
		t.Fatalf("attach after the change used %q", att.NetNSPath)
	}
	saved, err := os.ReadFile(filepath.Join(n.cfg.StateDir, CNIConfigFile))
	if err != nil || string(saved) != "v2" {
		t.Fatalf("saved CNI configuration %q, %v; want the last applied", saved, err)
	}
}

func TestFabricConfigValidate(t *testing.T) {
	fc := &FabricConfig{}
	err := fc.validate("/data")
	if err == nil || fc.StateDir != "/data/fabric" {
		t.Fatalf("empty fabric config: %v, state dir %q", err, fc.StateDir)
	}
	for _, want := range []string{"Plan", "NewNetwork"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
