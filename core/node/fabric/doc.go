// Package fabric is the host side of the network extension point: it
// applies a network.v1 plan (sdk/network) to the node with netlink and
// go-iptables, never by running `ip`, and reconciles it with what the host
// has. What it owns is marked so that reconciling never touches anything
// else: devices named with the "skiff" prefix (bridges and VXLAN devices),
// routes of protocol 115, permanent neighbour and remote FDB entries on its
// VXLAN devices, iptables chains named SKIFF-FABRIC-<HOOK> jumped to from
// the built-in chains by a rule commented skiff-fabric-hook, and the sysctl
// values it recorded in StateDir before changing them.
//
// The agent wires it as:
//
//	fab, _ := fabric.New(fabric.Config{StateDir: dataDir + "/fabric"})
//	informers := reconcile.NewSharedInformerFactory(c, log)
//	peers := fabric.WatchPeers(ctx, informers, nodeName)
//	informers.Start(ctx)
//	go fab.Run(ctx, fabric.RunOptions{
//		Plan:  backend.Plan, // or through the plugin host
//		Input: network.Input{Self: self, ClusterCIDR: cidr, ServiceCIDR: svc, UnderlayMTU: mtu},
//		Peers: peers,
//		Applied: func(ctx context.Context, p network.Plan) {
//			fabric.PublishAnnotations(ctx, c, nodeName, p.Annotations)
//			// first time: build the pod network from p.CNIConfig
//		},
//	})
//
// Sync applied twice changes nothing; Teardown removes everything above.
package fabric
