// Package proxy is the host side of the proxy extension point: it feeds the
// proxy plugin (a planner, see sdk/proxy) with the node's Services and ready
// Endpoints and installs the ruleset the plugin returns.
//
// A sync reads nothing from the kernel in the common case: the syncer
// remembers what it installed, diffs the new ruleset against it chain by
// chain, and writes only changed and stale chains in one
// `iptables-restore --noflush` transaction per table. A sync that changes
// more chains of a table than one transaction holds cheaply (500, more
// over a large installed table; a first sync of thousands of services) is
// split into several, ordered so that each step leaves a working ruleset
// (see diff in script.go): iptables-nft's cost per transaction grows with
// the square of the chains it names. The first sync
// after a start, a failed sync and every ResyncPeriod re-read the installed
// rules with iptables-save instead, so a restarted agent converges without
// flushing rules that carry live traffic; missing jumps from the built-in
// chains are then inserted in the same restore, after the chains they
// enter. An agent uses it as:
//
//	s, err := proxy.NewSyncer(proxy.Config{Planner: planner, NodeName: name,
//		NodeIPs: ips, ClusterCIDR: "10.244.0.0/16"})
//	go s.Run(ctx, factory.For(servicesRes), factory.For(endpointsRes))
//	...
//	s.Teardown(ctx, "SKIFF-PROXY-") // when the node leaves the cluster
package proxy
