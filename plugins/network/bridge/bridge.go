package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Config is the node's pod network.
type Config struct {
	// Subnet is the node's pod subnet (its lease from the cluster CIDR).
	Subnet string
	// DataDir holds host-local's leases (DataDir/ipam) and libcni's cache of
	// results (DataDir/cache), which is how an agent that restarted finds
	// its pods' IPs.
	DataDir string
	// Bridge is the bridge device (default skiff0).
	Bridge string
	// Network is the CNI network name (default skiff).
	Network string
	// MTU of the bridge and pod interfaces (default 1500).
	MTU int
	// PluginDirs are searched for the CNI plugin binaries (default
	// /usr/lib/cni, Debian's, and /opt/cni/bin).
	PluginDirs []string
	// NetNSDir is where pod namespaces are mounted (default /var/run/netns,
	// so `ip netns` lists them).
	NetNSDir string
	// NetNSPrefix starts every pod namespace name (default "skiff-").
	NetNSPrefix string
	// MaxParallelAdds bounds the CNI ADDs run at once (default: the number
	// of CPUs). An ADD execs three plugin binaries: in a burst, unbounded
	// ADDs share the CPU and all finish late, bounded ones finish in turn.
	MaxParallelAdds int
	// ConfList, when set, replaces the generated CNI configuration list:
	// multi-node backends plan their own (sdk/network Plan.CNIConfig). Its
	// name becomes Network; Bridge must be the bridge it names.
	ConfList []byte
}

// Network attaches pods to the node's bridge through the standard CNI
// plugins. It is safe for concurrent use.
type Network struct {
	cfg  Config
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
	// nodeMasquerade: the network installs the subnet's masquerade rule
	// (generated configs); planned configs bring their own.
	nodeMasquerade bool

	// mu lets attachments run in parallel (host-local locks its own store)
	// and Teardown exclude them.
	mu sync.RWMutex
	// setupMu serialises ADDs until one has succeeded: the bridge plugin
	// races on creating the bridge and its gateway address.
	setupMu sync.Mutex
	setUp   atomic.Bool
	pods    podLocks
	// adds holds a token per CNI ADD in flight (MaxParallelAdds).
	adds chan struct{}
}

// PodRef names the pod being attached.
type PodRef struct {
	UID       string
	Namespace string
	Name      string
}

// Attachment is a pod's network: its namespace and address.
type Attachment struct {
	// NetNSPath is the namespace the runtime puts the pod's containers in.
	NetNSPath string
	// IP is the pod's address on eth0, Subnet its prefix length, Gateway the
	// bridge address.
	IP      net.IP
	Subnet  *net.IPNet
	Gateway net.IP
}

// New checks cfg and prepares the network; nothing on the host changes
// until the first Attach.
func New(cfg Config) (*Network, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("bridge network: data dir is required")
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if cfg.Network == "" {
		cfg.Network = DefaultNetwork
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = "/var/run/netns"
	}
	if cfg.NetNSPrefix == "" {
		cfg.NetNSPrefix = "skiff-"
	}
	if cfg.MaxParallelAdds <= 0 {
		cfg.MaxParallelAdds = goruntime.NumCPU()
	}
	raw := cfg.ConfList
	if raw == nil {
		var err error
		raw, err = ConfList(ConfListOptions{
			Network: cfg.Network, Bridge: cfg.Bridge, Subnet: cfg.Subnet, MTU: cfg.MTU,
			IPAMDir: filepath.Join(cfg.DataDir, "ipam"), NodeMasquerade: true,
		})
		if err != nil {
			return nil, fmt.Errorf("bridge network: %w", err)
		}
	}
	list, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("bridge network: CNI config: %w", err)
	}
	if cfg.ConfList != nil {
		cfg.Network = list.Name
	}
	return &Network{
		cfg:            cfg,
		cni:            libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.DataDir, "cache"), nil),
		list:           list,
		nodeMasquerade: cfg.ConfList == nil,
		adds:           make(chan struct{}, cfg.MaxParallelAdds),
	}, nil
}

// ConfList is the CNI configuration list the network applies.
func (n *Network) ConfList() []byte { return n.list.Bytes }

// IPAMDir is where host-local keeps one file per leased address.
func (n *Network) IPAMDir() string { return filepath.Join(n.cfg.DataDir, "ipam", n.cfg.Network) }

// NetNSPath is the path of pod uid's network namespace: the prefix and the
// UID without dashes (a UUID gives skiff-<32 hex digits>).
func (n *Network) NetNSPath(uid string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, uid)
	return filepath.Join(n.cfg.NetNSDir, n.cfg.NetNSPrefix+name)
}

func (n *Network) runtimeConf(pod PodRef, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: pod.UID,
		NetNS:       netnsPath,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_UID", pod.UID},
		},
	}
}

// Attach creates the pod's network namespace and connects it to the bridge
// (CNI ADD), returning its address. Attaching a pod that is attached
// returns its existing attachment.
func (n *Network) Attach(ctx context.Context, pod PodRef) (Attachment, error) {
	if pod.UID == "" {
		return Attachment{}, fmt.Errorf("attach pod %s/%s: uid is empty", pod.Namespace, pod.Name)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	defer n.pods.lock(pod.UID)()
	if a, err := n.recover(pod.UID); err == nil {
		return a, nil
	}
	path := n.NetNSPath(pod.UID)
	if err := createNetNS(path); err != nil {
		return Attachment{}, fmt.Errorf("attach pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	res, err := n.add(ctx, pod, path)
	if err != nil {
		// Release whatever the failed ADD allocated, then the namespace.
		n.cni.DelNetworkList(context.WithoutCancel(ctx), n.list, n.runtimeConf(pod, path))
		deleteNetNS(path)
		return Attachment{}, fmt.Errorf("attach pod %s/%s: CNI ADD on network %q: %w", pod.Namespace, pod.Name, n.cfg.Network, err)
	}
	a, err := attachmentFrom(res, path)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return a, nil
}

// add runs CNI ADD; until one has succeeded, ADDs (and the node's
// masquerade rule) are set up one at a time.
func (n *Network) add(ctx context.Context, pod PodRef, path string) (types.Result, error) {
	select {
	case n.adds <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a CNI ADD slot: %w", ctx.Err())
	}
	defer func() { <-n.adds }()
	if n.setUp.Load() {
		return n.cni.AddNetworkList(ctx, n.list, n.runtimeConf(pod, path))
	}
	n.setupMu.Lock()
	defer n.setupMu.Unlock()
	if n.nodeMasquerade && !n.setUp.Load() {
		if err := ensureMasquerade(n.cfg.Network, n.cfg.Subnet); err != nil {
			return nil, err
		}
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, n.runtimeConf(pod, path))
	if err == nil {
		n.setUp.Store(true)
	}
	return res, err
}

func attachmentFrom(res types.Result, path string) (Attachment, error) {
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return Attachment{}, fmt.Errorf("CNI result: %w", err)
	}
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			subnet := &net.IPNet{IP: ip.Address.IP.Mask(ip.Address.Mask), Mask: ip.Address.Mask}
			return Attachment{NetNSPath: path, IP: ip.Address.IP, Subnet: subnet, Gateway: ip.Gateway}, nil
		}
	}
	return Attachment{}, fmt.Errorf("CNI result has no IPv4 address")
}

// Recover returns the attachment of a pod attached earlier, possibly by a
// previous agent process: from libcni's cached ADD result, or else by
// reading eth0's address inside the pod's namespace.
func (n *Network) Recover(ctx context.Context, uid string) (Attachment, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	defer n.pods.lock(uid)()
	return n.recover(uid)
}

// ErrNotAttached is returned by Recover for a pod with no network namespace.
var ErrNotAttached = errors.New("pod is not attached")

func (n *Network) recover(uid string) (Attachment, error) {
	path := n.NetNSPath(uid)
	if !isNetNS(path) {
		return Attachment{}, fmt.Errorf("pod %s: %w", uid, ErrNotAttached)
	}
	res, err := n.cni.GetNetworkListCachedResult(n.list, n.runtimeConf(PodRef{UID: uid}, path))
	if err == nil && res != nil {
		if a, err := attachmentFrom(res, path); err == nil {
			return a, nil
		}
	}
	return inspectNetNS(path)
}

// inspectNetNS reads eth0's IPv4 address in the namespace at path.
func inspectNetNS(path string) (Attachment, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return Attachment{}, fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return Attachment{}, fmt.Errorf("netlink in netns %s: %w", path, err)
	}
	defer h.Close()
	link, err := h.LinkByName("eth0")
	if err != nil {
		return Attachment{}, fmt.Errorf("netns %s: eth0: %w: %w", path, err, ErrNotAttached)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return Attachment{}, fmt.Errorf("netns %s: eth0 has no IPv4 address: %w", path, ErrNotAttached)
	}
	a := Attachment{NetNSPath: path, IP: addrs[0].IP, Subnet: &net.IPNet{IP: addrs[0].IP.Mask(addrs[0].Mask), Mask: addrs[0].Mask}}
	if routes, err := h.RouteList(link, netlink.FAMILY_V4); err == nil {
		for _, r := range routes {
			if r.Gw != nil && (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") {
				a.Gateway = r.Gw
			}
		}
	}
	return a, nil
}

// Detach disconnects the pod (CNI DEL, which releases its address) and
// deletes its network namespace. Detaching a pod that is not attached
// succeeds.
func (n *Network) Detach(ctx context.Context, uid string) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	defer n.pods.lock(uid)()
	return n.detach(ctx, uid)
}

func (n *Network) detach(ctx context.Context, uid string) error {
	path := n.NetNSPath(uid)
	nsPath := path
	if !isNetNS(path) {
		// Still run DEL without a namespace: it releases a leaked address.
		nsPath = ""
	}
	if err := n.cni.DelNetworkList(ctx, n.list, n.runtimeConf(PodRef{UID: uid}, nsPath)); err != nil {
		return fmt.Errorf("detach pod %s: CNI DEL on network %q: %w", uid, n.cfg.Network, err)
	}
	return deleteNetNS(path)
}

// Teardown detaches every pod still attached, deletes the bridge and
// forgets the address leases: the node's pod network is gone.
func (n *Network) Teardown(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	attached, err := n.cni.GetCachedAttachments("")
	if err != nil {
		return fmt.Errorf("bridge teardown: read CNI cache: %w", err)
	}
	var errs []error
	for _, a := range attached {
		if a.Network == n.cfg.Network {
			if err := n.detach(ctx, a.ContainerID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if n.nodeMasquerade {
		if err := removeMasquerade(n.cfg.Network, n.cfg.Subnet); err != nil {
			errs = append(errs, fmt.Errorf("bridge teardown: %w", err))
		}
	}
	n.setUp.Store(false)
	if link, err := netlink.LinkByName(n.cfg.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("bridge teardown: delete %s: %w", n.cfg.Bridge, err))
		}
	} else if !errors.As(err, &netlink.LinkNotFoundError{}) {
		errs = append(errs, fmt.Errorf("bridge teardown: %s: %w", n.cfg.Bridge, err))
	}
	for _, dir := range []string{filepath.Join(n.cfg.DataDir, "ipam"), filepath.Join(n.cfg.DataDir, "cache")} {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("bridge teardown: %w", err))
		}
	}
	return errors.Join(errs...)
}

// podLocks serialises the calls for one pod while other pods proceed.
type podLocks struct {
	mu    sync.Mutex
	locks map[string]*podLock
}

type podLock struct {
	sync.Mutex
	users int
}

// lock locks uid and returns its unlock.
func (p *podLocks) lock(uid string) (unlock func()) {
	p.mu.Lock()
	if p.locks == nil {
		p.locks = map[string]*podLock{}
	}
	l := p.locks[uid]
	if l == nil {
		l = &podLock{}
		p.locks[uid] = l
	}
	l.users++
	p.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		p.mu.Lock()
		if l.users--; l.users == 0 {
			delete(p.locks, uid)
		}
		p.mu.Unlock()
	}
}
