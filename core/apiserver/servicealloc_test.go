package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

const svcPath = "/api/v1/namespaces/default/services"

func serviceJSON(name, typ, clusterIP string, nodePort int32) string {
	ip := ""
	if clusterIP != "" {
		ip = fmt.Sprintf(`"clusterIP":%q,`, clusterIP)
	}
	np := ""
	if nodePort != 0 {
		np = fmt.Sprintf(`,"nodePort":%d`, nodePort)
	}
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":%q},"spec":{%s"type":%q,"selector":{"app":%q},"ports":[{"name":"http","port":80,"targetPort":8080%s}]}}`,
		name, ip, typ, name, np)
}

func smallRange(c *Config) {
	c.Services = ServiceNetwork{CIDR: "10.100.0.0/28", NodePortRange: "30000-30003"}
}

func TestServiceAllocation(t *testing.T) {
	ts := newTestServer(t, smallRange)
	rng := netip.MustParsePrefix("10.100.0.0/28")

	// The API server's own Service holds the first address.
	apiSvc := decode[api.Service](t, ts.must(200, "GET", svcPath+"/skiff", nil))
	if apiSvc.Spec.ClusterIP != "10.100.0.1" || apiSvc.Spec.Ports[0].Port != 443 {
		t.Fatalf("Service default/skiff: %+v", apiSvc.Spec)
	}

	want := decode[api.Service](t, ts.must(201, "POST", svcPath, serviceJSON("wanted", "ClusterIP", "10.100.0.10", 0)))
	if want.Spec.ClusterIP != "10.100.0.10" {
		t.Fatalf("requested IP not honoured: %s", want.Spec.ClusterIP)
	}
	web := decode[api.Service](t, ts.must(201, "POST", svcPath, serviceJSON("web", "NodePort", "", 0)))
	ip := netip.MustParseAddr(web.Spec.ClusterIP)
	if !rng.Contains(ip) || ip.String() == "10.100.0.1" || web.Spec.Ports[0].NodePort < 30000 || web.Spec.Ports[0].NodePort > 30003 {
		t.Fatalf("allocated %s / nodePort %d", ip, web.Spec.Ports[0].NodePort)
	}
	if web.Spec.Ports[0].Name != "http" || web.Spec.Ports[0].TargetPort.IntVal != 8080 || web.Spec.Ports[0].Protocol != "TCP" {
		t.Fatalf("ports must keep name/protocol/port/targetPort: %+v", web.Spec.Ports[0])
	}

	code, body := ts.do("POST", svcPath, "", []byte(serviceJSON("taken", "ClusterIP", web.Spec.ClusterIP, 0)))
	st := expectStatus(t, code, body, 422, api.ReasonInvalid)
	if st.Details == nil || st.Details.Causes[0].Field != "spec.clusterIP" || !strings.Contains(st.Message, "provided IP is already allocated") {
		t.Fatalf("taken IP: %+v", st)
	}
	code, body = ts.do("POST", svcPath, "", []byte(serviceJSON("outside", "ClusterIP", "10.200.0.5", 0)))
	if st := expectStatus(t, code, body, 422, api.ReasonInvalid); !strings.Contains(st.Message, "10.100.0.0/28") {
		t.Fatalf("outside range: %s", st.Message)
	}
	code, body = ts.do("POST", svcPath, "", []byte(serviceJSON("np", "NodePort", "", web.Spec.Ports[0].NodePort)))
	if st := expectStatus(t, code, body, 422, api.ReasonInvalid); st.Details.Causes[0].Field != "spec.ports[0].nodePort" {
		t.Fatalf("taken node port: %+v", st)
	}

	headless := decode[api.Service](t, ts.must(201, "POST", svcPath, serviceJSON("headless", "ClusterIP", "None", 0)))
	if headless.Spec.ClusterIP != "None" {
		t.Fatalf("headless: %q", headless.Spec.ClusterIP)
	}

	// An update without clusterIP keeps it; changing it is refused.
	kept := decode[api.Service](t, ts.must(200, "PUT", svcPath+"/wanted", ts.edit("wanted", func(s *api.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil })))
	if kept.Spec.ClusterIP != "10.100.0.10" {
		t.Fatalf("an update without clusterIP must keep it, got %q", kept.Spec.ClusterIP)
	}
	code, body = ts.do("PUT", svcPath+"/wanted", "", mustJSON(t, ts.edit("wanted", func(s *api.Service) { s.Spec.ClusterIP = "10.100.0.11" })))
	expectStatus(t, code, body, 422, api.ReasonInvalid)

	// Turning NodePort into ClusterIP frees the port; deleting frees the IP.
	ts.must(200, "PUT", svcPath+"/web", ts.edit("web", func(s *api.Service) { s.Spec.Type, s.Spec.ExternalTrafficPolicy = "ClusterIP", "" }))
	np := decode[api.Service](t, ts.must(201, "POST", svcPath, serviceJSON("np", "NodePort", "", web.Spec.Ports[0].NodePort)))
	if np.Spec.Ports[0].NodePort != web.Spec.Ports[0].NodePort {
		t.Fatal("a node port freed by a type change must be available again")
	}
	ts.must(200, "DELETE", svcPath+"/web", nil)
	reuse := decode[api.Service](t, ts.must(201, "POST", svcPath, serviceJSON("reuse", "ClusterIP", web.Spec.ClusterIP, 0)))
	if reuse.Spec.ClusterIP != web.Spec.ClusterIP {
		t.Fatal("a deleted Service's IP must be available again")
	}
}

func TestServiceAllocationNeverSharesUnderConcurrency(t *testing.T) {
	ts := newTestServer(t, smallRange)
	// 14 usable addresses, one for the API server: 13 Services fit.
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	bodies := make([][]byte, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], bodies[i] = ts.do("POST", svcPath, "", []byte(serviceJSON(fmt.Sprintf("s%d", i), "ClusterIP", "", 0)))
		}()
	}
	wg.Wait()
	seen := map[string]string{}
	created := 0
	for i := range n {
		if codes[i] != http.StatusCreated {
			continue
		}
		created++
		svc := decode[api.Service](t, bodies[i])
		if other, dup := seen[svc.Spec.ClusterIP]; dup {
			t.Fatalf("%s and %s share %s", other, svc.Name, svc.Spec.ClusterIP)
		}
		seen[svc.Spec.ClusterIP] = svc.Name
	}
	if created != 13 {
		t.Fatalf("created %d services in a range with room for 13", created)
	}
}

func TestServiceAllocationRepairAfterRestart(t *testing.T) {
	ts := newTestServer(t, smallRange)
	web := decode[api.Service](t, ts.must(201, "POST", svcPath, serviceJSON("web", "NodePort", "", 0)))
	// Lose the records, as if a crash came between the writes.
	cmRes, _ := api.ResourceForKind("ConfigMap")
	ctx := context.Background()
	for _, name := range held(web) {
		if _, err := ts.store.Delete(ctx, cmRes, AllocationNamespace, name, storeDeleteOptions()); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.services.repair(ctx); err != nil {
		t.Fatal(err)
	}
	code, body := ts.do("POST", svcPath, "", []byte(serviceJSON("other", "ClusterIP", web.Spec.ClusterIP, 0)))
	expectStatus(t, code, body, 422, api.ReasonInvalid)
	for _, name := range held(web) {
		if _, err := ts.store.Get(ctx, cmRes, AllocationNamespace, name); err != nil {
			t.Fatalf("record %s not repaired: %v", name, err)
		}
	}
}

func storeDeleteOptions() store.DeleteOptions { return store.DeleteOptions{} }

// edit reads a Service and returns it changed by mutate, for a PUT.
func (ts *testServer) edit(name string, mutate func(*api.Service)) *api.Service {
	svc := decode[api.Service](ts.t, ts.must(200, "GET", svcPath+"/"+name, nil))
	mutate(svc)
	return svc
}
