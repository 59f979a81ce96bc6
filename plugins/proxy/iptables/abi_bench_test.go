package iptables_test

import (
	"testing"

	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/sdk/abi"
)

// BenchmarkABI10kServices measures the wire cost of a 10,000-service sync
// natively: encoding the input and decoding the ruleset (the host's side)
// and the reverse (the plugin's side), with the message sizes.
func BenchmarkABI10kServices(b *testing.B) {
	in := input(services(10000))
	rs, err := iptables.Plan(in)
	if err != nil {
		b.Fatal(err)
	}
	var w abi.Writer
	w.PutProxyInput(in)
	inMsg := append([]byte(nil), w.Buf...)
	w.Reset()
	w.PutRuleset(rs)
	rsMsg := append([]byte(nil), w.Buf...)
	b.ResetTimer()
	for range b.N {
		w.Reset()
		w.PutProxyInput(in)
		abi.NewReader(w.Buf).ProxyInput()
		w.Reset()
		w.PutRuleset(rs)
		abi.NewReader(w.Buf).Ruleset()
	}
	b.ReportMetric(float64(len(inMsg)), "input-bytes")
	b.ReportMetric(float64(len(rsMsg)), "ruleset-bytes")
}
