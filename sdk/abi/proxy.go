package abi

import (
	"fmt"

	"github.com/skiff-sh/skiff/sdk/proxy"
)

// proxy.v1 carries every service of the cluster on each sync (~100 bytes a
// service port, ~1 MB at 10,000 services), and its ruleset is several times
// that: reflection JSON would cost a Go guest seconds. Both travel in the
// compact encoding, each as one section whose strings share one allocation,
// and with the total number of ports, endpoints or rules up front so that
// the decoder fills one slab per kind instead of allocating per service.

// PutProxyInput encodes an OpRules request payload.
func (w *Writer) PutProxyInput(in *proxy.Input) {
	w.Str(in.NodeName)
	w.Strs(in.NodeIPs)
	w.Str(in.ClusterCIDR)
	w.I32(int32(in.MasqueradeBit))
	ports, endpoints := 0, 0
	for i := range in.Services {
		ports += len(in.Services[i].Ports)
		for j := range in.Services[i].Ports {
			endpoints += len(in.Services[i].Ports[j].Endpoints)
		}
	}
	w.PutSection(func() {
		w.Len(len(in.Services))
		w.Len(ports)
		w.Len(endpoints)
		for i := range in.Services {
			s := &in.Services[i]
			w.Str(s.Namespace)
			w.Str(s.Name)
			w.Str(s.ClusterIP)
			w.Str(s.SessionAffinity)
			w.I32(s.AffinitySeconds)
			w.Len(len(s.Ports))
			for j := range s.Ports {
				p := &s.Ports[j]
				w.Str(p.Name)
				w.Str(p.Protocol)
				w.I32(p.Port)
				w.I32(p.NodePort)
				w.Len(len(p.Endpoints))
				for _, e := range p.Endpoints {
					w.Str(e.IP)
					w.I32(e.Port)
				}
			}
		}
	})
}

// Smallest encodings, for the count checks of the decoders.
const (
	minServiceBytes  = 4*4 + 4 + 4 // four strings, affinity seconds, port count
	minPortBytes     = 2*4 + 4 + 4 + 4
	minEndpointBytes = 4 + 4
	minChainBytes    = 3 * 4
	minJumpBytes     = 3 * 4
)

// slab hands out consecutive sub-slices of one allocation of total items,
// refusing to hand out more than it holds.
type slab[T any] struct {
	items []T
	what  string
}

func (s *slab[T]) take(r *Reader, n int) []T {
	if r.Err() != nil || n == 0 {
		return nil
	}
	if n > len(s.items) {
		r.fail(fmt.Errorf("abi: more %s than the message announced", s.what))
		return nil
	}
	out := s.items[:n:n]
	s.items = s.items[n:]
	return out
}

// ProxyInput decodes what PutProxyInput wrote.
func (r *Reader) ProxyInput() *proxy.Input {
	in := &proxy.Input{NodeName: r.Str(), NodeIPs: r.Strs(), ClusterCIDR: r.Str(), MasqueradeBit: int(r.I32())}
	sec := r.Section()
	nServices := sec.Len(minServiceBytes)
	ports := slab[proxy.Port]{what: "service ports"}
	ports.items = make([]proxy.Port, sec.Len(minPortBytes))
	endpoints := slab[proxy.Endpoint]{what: "endpoints"}
	endpoints.items = make([]proxy.Endpoint, sec.Len(minEndpointBytes))
	if err := sec.Err(); err != nil {
		r.fail(err)
		return in
	}
	if nServices > 0 {
		in.Services = make([]proxy.Service, nServices)
	}
	for i := range in.Services {
		s := &in.Services[i]
		s.Namespace, s.Name, s.ClusterIP, s.SessionAffinity = sec.Str(), sec.Str(), sec.Str(), sec.Str()
		s.AffinitySeconds = sec.I32()
		s.Ports = ports.take(&sec, sec.Len(minPortBytes))
		for j := range s.Ports {
			p := &s.Ports[j]
			p.Name, p.Protocol, p.Port, p.NodePort = sec.Str(), sec.Str(), sec.I32(), sec.I32()
			p.Endpoints = endpoints.take(&sec, sec.Len(minEndpointBytes))
			for k := range p.Endpoints {
				p.Endpoints[k] = proxy.Endpoint{IP: sec.Str(), Port: sec.I32()}
			}
		}
		if sec.Err() != nil {
			break
		}
	}
	if err := sec.Err(); err != nil {
		r.fail(err)
	}
	return in
}

// PutRuleset encodes an OpRules result.
func (w *Writer) PutRuleset(rs *proxy.Ruleset) {
	rules := 0
	for i := range rs.Chains {
		rules += len(rs.Chains[i].Rules)
	}
	w.PutSection(func() {
		w.Str(rs.Prefix)
		w.Len(len(rs.Chains))
		w.Len(rules)
		for i := range rs.Chains {
			c := &rs.Chains[i]
			w.Str(c.Table)
			w.Str(c.Name)
			w.Strs(c.Rules)
		}
		w.Len(len(rs.Jumps))
		for i := range rs.Jumps {
			j := &rs.Jumps[i]
			w.Str(j.Table)
			w.Str(j.Chain)
			w.Strs(j.Args)
		}
	})
}

// Ruleset decodes what PutRuleset wrote. Its strings share one copy of the
// message, so the result stays valid after the message is reused.
func (r *Reader) Ruleset() *proxy.Ruleset {
	sec := r.Section()
	rs := &proxy.Ruleset{Prefix: sec.Str()}
	nChains := sec.Len(minChainBytes)
	rules := slab[string]{what: "rules"}
	rules.items = make([]string, sec.Len(4))
	if sec.Err() == nil && nChains > 0 {
		rs.Chains = make([]proxy.Chain, nChains)
	}
	for i := range rs.Chains {
		c := &rs.Chains[i]
		c.Table, c.Name = sec.Str(), sec.Str()
		c.Rules = rules.take(&sec, sec.Len(4))
		for k := range c.Rules {
			c.Rules[k] = sec.Str()
		}
		if sec.Err() != nil {
			break
		}
	}
	if n := sec.Len(minJumpBytes); n > 0 && sec.Err() == nil {
		rs.Jumps = make([]proxy.Jump, n)
		for i := range rs.Jumps {
			rs.Jumps[i] = proxy.Jump{Table: sec.Str(), Chain: sec.Str(), Args: sec.Strs()}
		}
	}
	if err := sec.Err(); err != nil {
		r.fail(err)
	}
	return rs
}
