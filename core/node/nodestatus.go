package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/sdk/network"
)

// agentVersion is reported as nodeInfo.kubeletVersion.
const agentVersion = "skiff-agent/v1"

// maxPods is the pods capacity of a node, as Kubernetes' default.
const maxPods = 110

// hostCapacity is the node's cpu (nproc), memory (/proc/meminfo) and pods.
func hostCapacity() api.ResourceList {
	out := api.ResourceList{
		"cpu":  *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		"pods": *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	if kb, err := memTotalKB(); err == nil {
		out["memory"] = *resource.NewQuantity(kb*1024, resource.BinarySI)
	}
	return out
}

func memTotalKB() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			return strconv.ParseInt(fields[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemTotal line")
}

// systemInfo is the node's kernel, OS image and architecture.
func systemInfo(runtimeName, runtimeVersion string) api.NodeSystemInfo {
	info := api.NodeSystemInfo{
		OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
		KubeletVersion: agentVersion, OSImage: osImage(),
		ContainerRuntimeVersion: runtimeName + "://" + runtimeVersion,
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		info.KernelVersion = unix.ByteSliceToString(uts.Release[:])
	}
	if id, err := os.ReadFile("/etc/machine-id"); err == nil {
		info.MachineID = strings.TrimSpace(string(id))
	}
	return info
}

func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return goruntime.GOOS
}

// defaultNodeIP is the source address the kernel picks for the default
// route (no packet is sent), else the first global unicast address.
func defaultNodeIP() string {
	if ip, ok := DefaultRouteIP(); ok {
		return ip.String()
	}
	return "127.0.0.1"
}

// DefaultRouteIP is the host's address for reaching other machines: the
// source address of the IPv4 default route (a UDP "connect" to a TEST-NET
// address, which sends nothing), else the first global unicast IPv4
// address; ok is false when the host has neither.
func DefaultRouteIP() (ip net.IP, ok bool) {
	if conn, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer conn.Close()
		if ip := conn.LocalAddr().(*net.UDPAddr).IP; !ip.IsLoopback() {
			return ip, true
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP, true
		}
	}
	return nil, false
}

// desiredNode is the Node as this agent registers it, without status.
func (a *Agent) desiredNode(podCIDR string) *api.Node {
	labels := map[string]string{
		LabelHostname:            a.cfg.Hostname,
		"kubernetes.io/hostname": a.cfg.Hostname,
		"kubernetes.io/os":       goruntime.GOOS,
		"kubernetes.io/arch":     goruntime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: a.cfg.NodeName, Labels: labels}}
	n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDR, []string{podCIDR}
	n.Annotations = map[string]string{}
	if a.endpoint != "" {
		n.Annotations[AnnotationAgentEndpoint], n.Annotations[AnnotationAgentCert] = a.endpoint, string(a.certPEM)
	}
	if a.cfg.Fabric == nil && a.cfg.NetworkBackend != "" {
		n.Annotations[network.AnnotationBackend] = a.cfg.NetworkBackend
	}
	return n
}

// register creates or updates the Node's metadata and spec.
func (a *Agent) register(ctx context.Context, podCIDR string) error {
	want := a.desiredNode(podCIDR)
	cur, err := client.Get[*api.Node](ctx, a.client, "", want.Name)
	if api.IsNotFound(err) {
		if _, err := client.Create(ctx, a.client, want); err != nil && !api.IsAlreadyExists(err) {
			return fmt.Errorf("register node %q: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("register node %q: %w", want.Name, err)
	}
	if cur.Labels == nil {
		cur.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		cur.Labels[k] = v
	}
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	for k, v := range want.Annotations {
		cur.Annotations[k] = v
	}
	cur.Spec.PodCIDR, cur.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
	if _, err := client.Update(ctx, a.client, cur); err != nil {
		return fmt.Errorf("register node %q: update: %w", want.Name, err)
	}
	return nil
}

// updateNodeStatus writes addresses, capacity, nodeInfo and the Ready
// condition when they changed or the heartbeat is due.
func (a *Agent) updateNodeStatus(ctx context.Context, force bool) error {
	node, err := client.Get[*api.Node](ctx, a.client, "", a.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("node %q status: %w", a.cfg.NodeName, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	st := node.Status
	st.Capacity, st.Allocatable = a.capacity, a.capacity
	st.NodeInfo = a.sysInfo
	st.Addresses = nil
	for _, ip := range a.nodeIPs {
		st.Addresses = append(st.Addresses, api.NodeAddress{Type: "InternalIP", Address: ip})
	}
	st.Addresses = append(st.Addresses, api.NodeAddress{Type: "Hostname", Address: a.cfg.Hostname})
	ready := api.NodeCondition{Type: "Ready", Status: "True", Reason: "AgentReady", Message: "skiff agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
	changed := force
	var conds []api.NodeCondition
	found := false
	for _, c := range st.Conditions {
		if c.Type != "Ready" {
			conds = append(conds, c)
			continue
		}
		found = true
		if c.Status == ready.Status && c.Reason == ready.Reason {
			ready.LastTransitionTime = c.LastTransitionTime
			if now.Sub(c.LastHeartbeatTime) < a.cfg.StatusInterval {
				ready.LastHeartbeatTime = c.LastHeartbeatTime
			}
		}
		changed = changed || !sameNodeCondition(c, ready)
	}
	changed = changed || !found || !sameStatusFacts(node.Status, st)
	if !changed {
		return nil
	}
	st.Conditions = append(conds, ready)
	node.Status = st
	if _, err := client.UpdateStatus(ctx, a.client, node); err != nil {
		return fmt.Errorf("node %q status: %w", a.cfg.NodeName, err)
	}
	return nil
}

func sameNodeCondition(a, b api.NodeCondition) bool {
	return a.Type == b.Type && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message &&
		a.LastHeartbeatTime.Equal(b.LastHeartbeatTime) && a.LastTransitionTime.Equal(b.LastTransitionTime)
}

// sameStatusFacts compares what the agent owns besides conditions.
func sameStatusFacts(a, b api.NodeStatus) bool {
	if len(a.Addresses) != len(b.Addresses) || a.NodeInfo != b.NodeInfo || len(a.Capacity) != len(b.Capacity) {
		return false
	}
	for i := range a.Addresses {
		if a.Addresses[i] != b.Addresses[i] {
			return false
		}
	}
	for k, v := range b.Capacity {
		if av, ok := a.Capacity[k]; !ok || av.Cmp(v) != 0 {
			return false
		}
	}
	return true
}

// renewLease creates or renews skiff-node-lease/<node>.
func (a *Agent) renewLease(ctx context.Context) error {
	now := time.Now().UTC()
	// Kubernetes lets a node lease lapse after 40 s (4 missed renewals).
	duration := int32(max(4*a.cfg.LeaseInterval, 40*time.Second) / time.Second)
	lease, err := client.Get[*api.Lease](ctx, a.client, LeaseNamespace, a.cfg.NodeName)
	if api.IsNotFound(err) {
		lease = &api.Lease{ObjectMeta: api.ObjectMeta{Namespace: LeaseNamespace, Name: a.cfg.NodeName}}
		lease.Spec = api.LeaseSpec{HolderIdentity: &a.cfg.NodeName, LeaseDurationSeconds: &duration, AcquireTime: &now, RenewTime: &now}
		if _, err := client.Create(ctx, a.client, lease); err != nil && !api.IsAlreadyExists(err) {
			return fmt.Errorf("node lease %s/%s: %w", LeaseNamespace, a.cfg.NodeName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("node lease %s/%s: %w", LeaseNamespace, a.cfg.NodeName, err)
	}
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &a.cfg.NodeName, &duration, &now
	if _, err := client.Update(ctx, a.client, lease); err != nil {
		return fmt.Errorf("node lease %s/%s: renew: %w", LeaseNamespace, a.cfg.NodeName, err)
	}
	return nil
}

// heartbeat renews the lease every LeaseInterval and rewrites the node
// status when due, until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.cfg.LeaseInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("renew node lease", "err", err)
		}
		if err := a.updateNodeStatus(ctx, false); err != nil && ctx.Err() == nil {
			a.log.Warn("update node status", "err", err)
		}
	}
}
