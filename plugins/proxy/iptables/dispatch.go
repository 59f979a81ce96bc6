package iptables

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/sdk/proxy"
)

// clusterIPShards is how many chains the cluster IP rules are spread over,
// by the low bits of the address. One flat SERVICES chain, as kube-proxy
// has, is walked rule by rule by every packet and rewritten whole when a
// service comes or goes: at 10,000 services that rewrite alone took
// ~0.8 s. Spread over 64 chains a packet meets at most 64 + n/64 rules and
// a new service rewrites one chain of n/64. The low bits spread addresses
// evenly whether they are handed out in sequence or at random.
const clusterIPShards = 64

// chainClusterIPs is the prefix of the shard chains, followed by the
// shard's number: SKIFF-PROXY-CLUSTERIPS-00 ... -63.
const chainClusterIPs = Prefix + "CLUSTERIPS-"

// dispatch is a rule of a dispatch chain (a cluster IP shard, NODEPORTS)
// that sends the packets it matches to a service port's SVC chain.
type dispatch struct {
	svcChain, match string
	shard           int
}

func shardOf(vip netip.Addr) int { return int(vip.As4()[3]) % clusterIPShards }

func shardChain(shard int) string {
	if shard < 10 {
		return chainClusterIPs + "0" + strconv.Itoa(shard)
	}
	return chainClusterIPs + strconv.Itoa(shard)
}

// clusterIPChains spreads the cluster IP rules over their shard chains and
// returns the SERVICES rules that enter the shards (a masked destination
// match each) with the shard chains. Only shards holding a rule exist.
func clusterIPChains(rules []dispatch) (services []string, chains []proxy.Chain) {
	var byShard [clusterIPShards][]dispatch
	for _, d := range rules {
		byShard[d.shard] = append(byShard[d.shard], d)
	}
	mask := "/0.0.0." + strconv.Itoa(clusterIPShards-1) + " -j "
	for shard := clusterIPShards - 1; shard >= 0; shard-- { // descending names: see sortDispatch
		ds := byShard[shard]
		if len(ds) == 0 {
			continue
		}
		sortDispatch(ds)
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.match + " -j " + d.svcChain
		}
		name := shardChain(shard)
		chains = append(chains, proxy.Chain{Table: tableNAT, Name: name, Rules: out})
		services = append(services, "-d 0.0.0."+strconv.Itoa(shard)+mask+name)
	}
	return services, chains
}

// sortDispatch orders dispatch rules by descending SVC chain name. Their
// order does not matter to packets (each matches its own address and
// port) but it does to iptables-nft: it files the chain names a
// transaction refers to in a sorted list, walked from the smallest, so a
// name smaller than all it holds costs one comparison: a 10,000-rule
// dispatch chain took ~0.3 s to write in this order and ~1.3 s in
// namespace/name order.
func sortDispatch(d []dispatch) {
	slices.SortFunc(d, func(a, b dispatch) int { return strings.Compare(b.svcChain, a.svcChain) })
}
