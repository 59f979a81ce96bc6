package apiserver

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

func TestEndpointAddress(t *testing.T) {
	tcp := func(ip string) *net.TCPAddr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 6443} }
	for name, tc := range map[string]struct {
		advertise   string
		listen      *net.TCPAddr
		want, warns string
	}{
		"advertise wins over loopback":   {"192.0.2.10", tcp("127.0.0.1"), "192.0.2.10", ""},
		"advertise wins over a specific": {"192.0.2.10", tcp("10.0.0.5"), "192.0.2.10", ""},
		"specific listen address":        {"", tcp("10.0.0.5"), "10.0.0.5", ""},
		"loopback":                       {"", tcp("127.0.0.1"), "", "listen: 0.0.0.0:6443"},
		"other loopback":                 {"", tcp("127.0.0.2"), "", "advertise-address"},
		"ipv6 loopback":                  {"", tcp("::1"), "", "loopback"},
		"unspecified":                    {"", tcp("0.0.0.0"), "", "advertise-address"},
		"unspecified ipv6":               {"", tcp("::"), "", "all addresses"},
		"no ip":                          {"", &net.TCPAddr{Port: 6443}, "", "advertise-address"},
	} {
		t.Run(name, func(t *testing.T) {
			got, warning := endpointAddress(tc.advertise, tc.listen)
			if got != tc.want {
				t.Fatalf("address: got %q, want %q", got, tc.want)
			}
			if (warning == "") != (tc.warns == "") || !strings.Contains(warning, tc.warns) {
				t.Fatalf("warning %q, want one containing %q", warning, tc.warns)
			}
			if warning != "" && !strings.Contains(warning, "pods") && !strings.Contains(warning, "no endpoints") {
				t.Fatalf("warning must say pods cannot reach the API: %q", warning)
			}
		})
	}
}

func TestAdvertiseAddressValidation(t *testing.T) {
	for _, ok := range []string{"", "192.0.2.10", "10.0.0.1"} {
		if err := CheckAdvertiseAddress(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"apiserver.example", "10.0.0.1:6443", "2001:db8::1", "127.0.0.1", "0.0.0.0", "224.0.0.1"} {
		if err := CheckAdvertiseAddress(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: want an error naming the value, got %v", bad, err)
		}
	}
	_, err := New(Config{Store: store.NewEtcd(testEtcd.Client(), "/apiserver-test/bad-advertise"), DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Services: ServiceNetwork{AdvertiseAddress: "apiserver.example"}})
	if err == nil || !strings.Contains(err.Error(), "services.advertiseAddress") {
		t.Fatalf("New must refuse a hostname as the advertise address, naming the field; got %v", err)
	}
}

// The `skiff` Endpoints, as each server that starts on a shared store
// publishes them: the advertise address, else a reachable listen IP, else
// nothing (clearing what an earlier server published).
func TestSkiffEndpoints(t *testing.T) {
	st := store.NewEtcd(testEtcd.Client(), fmt.Sprintf("/apiserver-test/%d", prefixSeq.Add(1)))
	t.Cleanup(func() { st.Close() })
	onShared := func(listen, advertise string) func(*Config) {
		return func(c *Config) { c.Store, c.Listen, c.Services.AdvertiseAddress = st, listen, advertise }
	}
	endpoints := func(ts *testServer) []api.EndpointSubset {
		return decode[api.Endpoints](t, ts.must(200, "GET", "/api/v1/namespaces/default/endpoints/skiff", nil)).Subsets
	}
	wantSubset := func(ts *testServer, ip string) {
		t.Helper()
		subsets := endpoints(ts)
		port := int32(ts.listener.Addr().(*net.TCPAddr).Port)
		if len(subsets) != 1 || len(subsets[0].Addresses) != 1 || subsets[0].Addresses[0].IP != ip ||
			len(subsets[0].Ports) != 1 || subsets[0].Ports[0].Port != port || subsets[0].Ports[0].Name != "https" {
			t.Fatalf("Endpoints default/skiff: want %s:%d, got %+v", ip, port, subsets)
		}
		svc := decode[api.Service](t, ts.must(200, "GET", svcPath+"/skiff", nil))
		if svc.Spec.Ports[0].TargetPort.IntVal != port {
			t.Fatalf("Service default/skiff targets port %d, the server listens on %d", svc.Spec.Ports[0].TargetPort.IntVal, port)
		}
	}

	advertised := newTestServer(t, onShared("127.0.0.1:0", "192.0.2.10"))
	wantSubset(advertised, "192.0.2.10")

	if ip := hostIPv4(); ip != "" {
		specific := newTestServer(t, onShared(net.JoinHostPort(ip, "0"), ""), func(c *Config) { c.ExtraSANs = []string{ip} })
		wantSubset(specific, ip)
	} else {
		t.Log("no non-loopback IPv4 address on this host: the specific-listen case is covered by TestEndpointAddress only")
	}

	loopback := newTestServer(t, onShared("127.0.0.1:0", ""))
	if subsets := endpoints(loopback); len(subsets) != 0 {
		t.Fatalf("a loopback API server must publish no endpoints (pods cannot reach it), got %+v", subsets)
	}
}

// hostIPv4 is one of this host's non-loopback IPv4 addresses, or "".
func hostIPv4() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
