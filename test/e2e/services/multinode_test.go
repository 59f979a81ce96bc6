package services

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/test/harness"
)

// Services across nodes: 3 web replicas on two of three overlay nodes, so
// that the third has no backend of its own.

// webOnLabelled is webManifest restricted to nodes labelled web=yes.
var webOnLabelled = strings.Replace(webManifest, "      containers:\n", "      nodeSelector: {web: \"yes\"}\n      containers:\n", 1)

// backendsFrom counts the replicas answering n requests, each on a new
// connection opened in the namespace at netns ("" is the test's own).
func backendsFrom(netns, url string, n int) (map[string]int, error) {
	return countBackends(url, n, func() (string, error) { return harness.HTTPGet(netns, url) })
}

func TestServicesAcrossNodes(t *testing.T) {
	s := harness.StartSkiff(t, harness.Options{Nodes: 3}, "network: {backend: overlay}\n")
	nodes := s.Nodes()
	empty := s.Agents[nodes[2].Name] // the node without a backend
	for _, n := range nodes[:2] {
		if out, err := s.Server.Skiff(nil, "label", "node", s.Agents[n.Name].Name, "web=yes"); err != nil {
			t.Fatal(err, out)
		}
	}
	s.Apply(t, webOnLabelled+"---\n"+string(webService("ClusterIP")))
	pods := s.ReadyPods(t, "app=web", 3)
	for _, p := range pods {
		if p.Spec.NodeName == empty.Name {
			t.Fatalf("pod %s landed on %s, which is not labelled web=yes", p.Name, empty.Name)
		}
	}
	svc := waitService(t, s, "web")
	url := harness.URL(svc.Spec.ClusterIP, 8080)

	allAnswer := func(t *testing.T, what string, get func() (map[string]int, error)) {
		t.Helper()
		var seen map[string]int
		s.Eventually(t, nil, 30*time.Second, "3 backends answering "+what, func() (err error) {
			seen, err = get()
			if err == nil && len(seen) != 3 {
				err = fmt.Errorf("60 requests reached %v", seen)
			}
			return err
		})
		for _, p := range pods {
			if seen[p.Name] == 0 {
				t.Errorf("%s: pod %s on %s never answered: %v", what, p.Name, p.Spec.NodeName, seen)
			}
		}
	}

	t.Run("cluster IP from every node reaches the replicas on other nodes", func(t *testing.T) {
		for _, n := range nodes {
			allAnswer(t, url+" from node "+n.Name, func() (map[string]int, error) { return backendsFrom(n.NetNS, url, 60) })
		}
	})

	t.Run("cluster IP from a pod reaches every replica", func(t *testing.T) {
		script := fmt.Sprintf("for i in $(seq 60); do timeout 5 wget -q -O- %s || echo FAILED; done", url)
		allAnswer(t, url+" from pod "+pods[0].Name, func() (map[string]int, error) {
			out, err := s.Server.Skiff(nil, "exec", pods[0].Name, "--", "sh", "-c", script)
			if err == nil && strings.Contains(out, "FAILED") {
				err = fmt.Errorf("wget from pod %s failed:\n%s", pods[0].Name, out)
			}
			seen := map[string]int{}
			for _, m := range hostnameRE.FindAllStringSubmatch(out, -1) {
				seen[m[1]]++
			}
			return seen, err
		})
	})

	t.Run("a NodePort answers on every node's address, also where no backend runs", func(t *testing.T) {
		s.Apply(t, string(webService("NodePort")))
		var port int
		s.Eventually(t, nil, 30*time.Second, "a node port", func() error {
			if port = int(waitService(t, s, "web").Spec.Ports[0].NodePort); port == 0 {
				return fmt.Errorf("service web has no node port yet")
			}
			return nil
		})
		// From the host side of the underlay, as a client outside the
		// cluster would come.
		for _, n := range nodes {
			nodeURL := harness.URL(n.IP.String(), port)
			allAnswer(t, nodeURL, func() (map[string]int, error) { return backendsFrom("", nodeURL, 60) })
		}
	})
}

func waitService(t *testing.T, s *harness.SkiffCluster, name string) *api.Service {
	t.Helper()
	var svc *api.Service
	s.Eventually(t, nil, 30*time.Second, "service "+name, func() (err error) {
		if svc, err = client.Get[*api.Service](context.Background(), s.Client, "default", name); err == nil && svc.Spec.ClusterIP == "" {
			err = fmt.Errorf("service %s has no cluster IP yet", name)
		}
		return err
	})
	return svc
}
