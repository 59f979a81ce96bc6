// Package proxy_test measures the service proxy's sync: plan plus
// iptables-restore of many services into a fresh network namespace, and one
// endpoint change among them (plan, diff, restore of the changed chains).
//
//	SKIFF_BENCH=1 go test -run TestBench -v ./test/bench/proxy
//
// Targets: a full sync of 10,000 services under 3 s, one change under 200 ms.
// The restore's CPU time is printed too: on a shared machine it varies
// less than the wall time.
package proxy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/node/proxy"
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

func skipUnlessBench(t *testing.T) {
	if os.Getenv("SKIFF_BENCH") != "1" {
		t.Skip("set SKIFF_BENCH=1 to run benchmarks")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
}

// freshNetns creates an empty network namespace, removed at the end.
func freshNetns(t *testing.T, name string) string {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return "/var/run/netns/" + name
}

// input is n services with two ready endpoints each, in 10 namespaces.
func input(n int) *sdkproxy.Input {
	in := &sdkproxy.Input{NodeName: "n1", NodeIPs: []string{"192.168.0.10"}, ClusterCIDR: "10.244.0.0/16"}
	for i := range n {
		ep := func(k int) sdkproxy.Endpoint {
			return sdkproxy.Endpoint{IP: fmt.Sprintf("10.244.%d.%d", (2*i+k)/250, (2*i+k)%250+1), Port: 8080}
		}
		in.Services = append(in.Services, sdkproxy.Service{
			Namespace: fmt.Sprintf("ns%d", i%10), Name: fmt.Sprintf("svc%d", i),
			ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
			Ports:     []sdkproxy.Port{{Name: "http", Protocol: "TCP", Port: 80, Endpoints: []sdkproxy.Endpoint{ep(0), ep(1)}}},
		})
	}
	return in
}

func sync(t *testing.T, s *proxy.Syncer, in *sdkproxy.Input) (time.Duration, proxy.Stats) {
	start := time.Now()
	rs, err := iptables.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Apply(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start), st
}

func TestBenchProxySync(t *testing.T) {
	skipUnlessBench(t)
	for _, n := range []int{1000, 10000} {
		ns := freshNetns(t, fmt.Sprintf("skfbench%d", n))
		s, err := proxy.NewSyncer(proxy.Config{Planner: &iptables.Planner{}, Netns: ns, ResyncPeriod: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		in := input(n)
		took, st := sync(t, s, in)
		fmt.Printf("BENCH proxy_full_sync_%d_ms %d ms\n", n, took.Milliseconds())
		fmt.Printf("BENCH proxy_full_sync_%d_restore_cpu_ms %d ms\n", n, st.RestoreCPU.Milliseconds())
		t.Logf("full sync of %d services: %d chains, %d rules in %d transactions, %s (iptables-restore CPU %s)",
			n, st.ChainsWritten, st.RulesWritten, st.Commits, took, st.RestoreCPU)
		if n != 10000 {
			continue
		}
		// A restarted agent reads what is installed (iptables-save),
		// finds nothing to change and writes nothing.
		restarted, err := proxy.NewSyncer(proxy.Config{Planner: &iptables.Planner{}, Netns: ns, ResyncPeriod: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		took, st = sync(t, restarted, in)
		if !st.FullRead || st.ChainsWritten != 0 || st.ChainsDeleted != 0 || st.JumpsInserted != 0 {
			t.Fatalf("a restart changed rules: %+v", st)
		}
		fmt.Printf("BENCH proxy_restart_sync_10000_ms %d ms\n", took.Milliseconds())

		// One endpoint moves: its service's SVC chain changes, one SEP
		// chain goes and one comes.
		var best time.Duration
		for round := range 5 {
			in.Services[n/2].Ports[0].Endpoints[1] = sdkproxy.Endpoint{IP: fmt.Sprintf("10.250.0.%d", round+1), Port: 8080}
			took, st := sync(t, s, in)
			if st.ChainsWritten != 2 || st.ChainsDeleted != 1 {
				t.Fatalf("one endpoint change wrote %+v", st)
			}
			if round == 0 || took < best {
				best = took
			}
		}
		fmt.Printf("BENCH proxy_one_change_10000_ms %d ms\n", best.Milliseconds())

		// One service comes and goes: its chains plus a rewrite of the
		// 10,000-rule dispatch chain, in one transaction.
		best = 0
		for round := range 5 {
			more := *in
			more.Services = append(slices.Clip(in.Services), sdkproxy.Service{Namespace: "zz", Name: fmt.Sprintf("new%d", round), ClusterIP: "10.97.0.1",
				Ports: []sdkproxy.Port{{Name: "http", Protocol: "TCP", Port: 80, Endpoints: []sdkproxy.Endpoint{{IP: "10.251.0.1", Port: 8080}, {IP: "10.251.0.2", Port: 8080}}}}})
			took, st := sync(t, s, &more)
			if st.ChainsWritten != 4 || st.Commits != 1 {
				t.Fatalf("one service added wrote %+v", st)
			}
			if round == 0 || took < best {
				best = took
			}
			if _, st := sync(t, s, in); st.ChainsDeleted != 3 {
				t.Fatalf("one service removed wrote %+v", st)
			}
		}
		fmt.Printf("BENCH proxy_add_service_10000_ms %d ms\n", best.Milliseconds())

		// Every service's second endpoint moves at once: 10,000 SVC chains
		// rewritten, 10,000 SEP chains new and 10,000 stale, while the
		// rules carry traffic (each commit makes the kernel walk them).
		for i := range in.Services {
			in.Services[i].Ports[0].Endpoints[1].Port = 9090
		}
		took, st = sync(t, s, in)
		if st.ChainsWritten != 2*n || st.ChainsDeleted != n {
			t.Fatalf("every endpoint moved: %+v", st)
		}
		fmt.Printf("BENCH proxy_all_endpoints_move_10000_ms %d ms\n", took.Milliseconds())
		t.Logf("every endpoint moved: %d chains written, %d deleted in %d transactions, %s (iptables-restore CPU %s)",
			st.ChainsWritten, st.ChainsDeleted, st.Commits, took, st.RestoreCPU)
	}
}
