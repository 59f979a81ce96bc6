package services

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/test/images"
)

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: web
          image: ` + images.WebRef + `
          imagePullPolicy: Never
          env: [{name: PORT, value: "80"}]
          ports: [{name: http, containerPort: 80}]
          readinessProbe: {httpGet: {path: /ready, port: 80}, periodSeconds: 1, failureThreshold: 1}
`

func webService(typ string) []byte {
	return []byte(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: ` + typ + `
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: 80}]
`)
}

const emptyService = `apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  selector: {app: nothing-matches}
  ports: [{port: 80}]
`

var hostnameRE = regexp.MustCompile(`hostname=(\S+)`)

// backends sends n requests, each on a new connection, and counts the
// replicas that answered, by hostname.
func backends(hc *http.Client, url string, n int) (map[string]int, error) {
	return countBackends(url, n, func() (string, error) { return get(hc, url) })
}

// countBackends calls get n times and counts the replicas that answered.
func countBackends(url string, n int, get func() (string, error)) (map[string]int, error) {
	seen := map[string]int{}
	for range n {
		body, err := get()
		if err != nil {
			return seen, err
		}
		m := hostnameRE.FindStringSubmatch(body)
		if m == nil {
			return seen, fmt.Errorf("GET %s: unexpected body %q", url, body)
		}
		seen[m[1]]++
	}
	return seen, nil
}

func TestServicesOnOneNode(t *testing.T) {
	images.RequireHost(t, "containerd", "runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback",
		"iptables", "iptables-save", "iptables-restore", "ip", "nsenter", "go", images.BusyboxPath)
	c := startCluster(t)
	ctx := context.Background()

	tar, err := images.BuildWebImage(t.TempDir(), images.WebRef)
	if err != nil {
		t.Fatal(err)
	}
	c.eventually(t, 60*time.Second, "the node to accept the image", func() error {
		_, err := c.run(nil, "image", "import", tar)
		return err
	})
	c.skiffOK(t, []byte(webManifest+"---\n"+string(webService("ClusterIP"))), "apply", "-f", "-")
	t.Cleanup(c.deleteWorkloads)
	pods := c.readyPods(t, 3)
	svc := c.service(t, "web")
	cip := svc.Spec.ClusterIP
	url := "http://" + net.JoinHostPort(cip, "8080") + "/"
	c.waitEndpoints(t, "web", 3)

	t.Run("cluster IP from the node reaches every replica", func(t *testing.T) {
		var seen map[string]int
		c.eventually(t, 30*time.Second, "3 backends behind "+url, func() (err error) {
			seen, err = backends(c.httpFrom(false), url, 60)
			if err == nil && len(seen) != 3 {
				err = fmt.Errorf("60 requests reached %v", seen)
			}
			return err
		})
		for _, p := range pods {
			if seen[p.Name] == 0 {
				t.Errorf("pod %s never answered: %v", p.Name, seen)
			}
		}
	})

	t.Run("cluster IP from a pod reaches every replica", func(t *testing.T) {
		out := c.skiffOK(t, nil, "exec", pods[0].Name, "--", "sh", "-c",
			fmt.Sprintf("for i in $(seq 60); do timeout 5 wget -q -O- %s || echo FAILED; done", url))
		if strings.Contains(out, "FAILED") {
			t.Fatalf("wget from pod %s failed:\n%s", pods[0].Name, out)
		}
		seen := map[string]bool{}
		for _, m := range hostnameRE.FindAllStringSubmatch(out, -1) {
			seen[m[1]] = true
		}
		if len(seen) != 3 {
			t.Fatalf("60 requests from pod %s reached %v, want all 3 replicas (one of them through the hairpin)", pods[0].Name, seen)
		}
	})

	t.Run("pods resolve service names", func(t *testing.T) {
		dnsIP := c.service(t, "skiff-dns", "skiff-system").Spec.ClusterIP
		resolv := c.skiffOK(t, nil, "exec", pods[0].Name, "--", "cat", "/etc/resolv.conf")
		want := "nameserver " + dnsIP + "\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
		if resolv != want {
			t.Fatalf("pod resolv.conf:\n%s\nwant:\n%s", resolv, want)
		}
		// busybox nslookup tries every search domain, prints each answer
		// and exits 1 when any suffix is NXDOMAIN: judge by the answer.
		answer := regexp.MustCompile(`Name:\s+web\.default\.svc\.cluster\.local\s+Address:\s+` + regexp.QuoteMeta(cip) + `\b`)
		for _, name := range []string{"web.default.svc.cluster.local", "web"} {
			c.eventually(t, 20*time.Second, "nslookup "+name, func() error {
				out, err := c.run(nil, "exec", pods[0].Name, "--", "sh", "-c", "nslookup "+name+"; true")
				if err == nil && !answer.MatchString(out) {
					err = fmt.Errorf("nslookup %s does not answer %s:\n%s", name, cip, out)
				}
				return err
			})
		}
		// The short name also works for a client library, through the
		// search path.
		body := c.skiffOK(t, nil, "exec", pods[1].Name, "--", "timeout", "5", "wget", "-q", "-O-", "http://web:8080/")
		if !hostnameRE.MatchString(body) {
			t.Fatalf("wget http://web:8080/ from a pod: %q", body)
		}
	})

	t.Run("a service without endpoints refuses at once", func(t *testing.T) {
		c.skiffOK(t, []byte(emptyService), "apply", "-f", "-")
		addr := net.JoinHostPort(c.service(t, "empty").Spec.ClusterIP, "80")
		c.eventually(t, 20*time.Second, "connection refused from "+addr, func() error {
			start := time.Now()
			ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			conn, err := c.dialer()(ctx, "tcp", addr)
			if err == nil {
				conn.Close()
				return fmt.Errorf("connected to %s, which has no endpoints", addr)
			}
			if !isRefused(err) {
				return fmt.Errorf("dial %s: %v after %s, want connection refused", addr, err, time.Since(start).Round(time.Millisecond))
			}
			return nil
		})
	})

	t.Run("a not-ready pod gets no traffic", func(t *testing.T) {
		sick := pods[2]
		c.skiffOK(t, nil, "exec", sick.Name, "--", "touch", "/tmp/not-ready")
		c.waitEndpoints(t, "web", 2)
		c.eventually(t, 20*time.Second, "rules without "+sick.Status.PodIP, func() error {
			if strings.Contains(c.rules(t), sick.Status.PodIP+":80") {
				return fmt.Errorf("%s still has a DNAT rule", sick.Status.PodIP)
			}
			return nil
		})
		seen, err := backends(c.httpFrom(false), url, 40)
		if err != nil {
			t.Fatal(err)
		}
		if seen[sick.Name] > 0 || len(seen) != 2 {
			t.Fatalf("40 requests with %s not ready reached %v", sick.Name, seen)
		}
		c.skiffOK(t, nil, "exec", sick.Name, "--", "rm", "/tmp/not-ready")
		c.waitEndpoints(t, "web", 3)
	})

	t.Run("a deleted pod leaves endpoints and rules", func(t *testing.T) {
		gone := pods[1]
		c.skiffOK(t, nil, "delete", "pod", gone.Name)
		c.eventually(t, 60*time.Second, "Endpoints and rules without "+gone.Status.PodIP, func() error {
			ep, err := client.Get[*api.Endpoints](ctx, c.client, "default", "web")
			if err != nil {
				return err
			}
			if slices.Contains(endpointIPs(ep), gone.Status.PodIP) {
				return fmt.Errorf("Endpoints still list %s", gone.Status.PodIP)
			}
			if strings.Contains(c.rules(t), gone.Status.PodIP+":80") {
				return fmt.Errorf("rules still DNAT to %s", gone.Status.PodIP)
			}
			return nil
		})
		pods = c.readyPods(t, 3) // the ReplicaSet's replacement
		c.waitEndpoints(t, "web", 3)
	})

	t.Run("NodePort answers on the node address", func(t *testing.T) {
		c.skiffOK(t, webService("NodePort"), "apply", "-f", "-")
		var nodePort int32
		c.eventually(t, 20*time.Second, "a node port", func() error {
			s := c.service(t, "web")
			if s.Spec.Type != "NodePort" || s.Spec.Ports[0].NodePort == 0 || s.Spec.ClusterIP != cip {
				return fmt.Errorf("service web: %+v", s.Spec)
			}
			nodePort = s.Spec.Ports[0].NodePort
			return nil
		})
		// From outside the node: the test's own namespace reaches the node
		// over the harness underlay.
		external := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		npURL := fmt.Sprintf("http://%s/", net.JoinHostPort(c.node.IP.String(), fmt.Sprint(nodePort)))
		c.eventually(t, 30*time.Second, "3 backends behind "+npURL, func() error {
			seen, err := backends(external, npURL, 60)
			if err == nil && len(seen) != 3 {
				err = fmt.Errorf("60 requests reached %v", seen)
			}
			return err
		})
		if _, err := get(c.httpFrom(false), url); err != nil {
			t.Fatalf("the cluster IP after the switch to NodePort: %v", err)
		}
	})

	t.Run("restarting skiffd keeps connections and rules", func(t *testing.T) {
		conn, err := c.dialer()(ctx, "tcp", net.JoinHostPort(cip, "8080"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		first, err := getOn(conn)
		if err != nil {
			t.Fatal(err)
		}
		before := c.rules(t)
		c.stop()
		if after := c.rules(t); after != before {
			t.Fatalf("rules changed when skiffd stopped:\nbefore\n%s\nafter\n%s", before, after)
		}
		c.start(t)
		c.waitNodeReady(t)
		// Give the new agent time for its first full sync and a few more.
		time.Sleep(5 * time.Second)
		if after := c.rules(t); after != before {
			t.Fatalf("rules changed across the restart:\nbefore\n%s\nafter\n%s", before, after)
		}
		again, err := getOn(conn)
		if err != nil {
			t.Fatalf("the connection opened before the restart: %v", err)
		}
		if hostnameRE.FindString(first) != hostnameRE.FindString(again) {
			t.Fatalf("one connection answered by two replicas: %q then %q", first, again)
		}
	})

	t.Run("deleting the service removes its rules", func(t *testing.T) {
		c.skiffOK(t, nil, "delete", "service", "web")
		c.eventually(t, 20*time.Second, "no rules for default/web", func() error {
			if r := c.rules(t); strings.Contains(r, "default/web:") || strings.Contains(r, cip+"/32") {
				return fmt.Errorf("rules still name default/web:\n%s", r)
			}
			return nil
		})
	})
}

// getOn sends one keep-alive request on conn and returns the body.
func getOn(conn net.Conn) (string, error) {
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: web\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func endpointIPs(ep *api.Endpoints) []string {
	var ips []string
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			ips = append(ips, a.IP)
		}
	}
	return ips
}

// readyPods waits for n Running and Ready web pods and returns them sorted
// by name.
func (c *cluster) readyPods(t *testing.T, n int) []*api.Pod {
	t.Helper()
	var ready []*api.Pod
	c.eventually(t, 3*time.Minute, fmt.Sprintf("%d ready web pods", n), func() error {
		list, err := client.List[*api.Pod](context.Background(), c.client, "default", client.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		ready = ready[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == "Running" && api.IsPodReady(p) && p.Status.PodIP != "" {
				ready = append(ready, p)
			}
		}
		if len(ready) != n || len(list.Items) != n {
			return fmt.Errorf("%d of %d pods ready", len(ready), len(list.Items))
		}
		return nil
	})
	slices.SortFunc(ready, func(a, b *api.Pod) int { return strings.Compare(a.Name, b.Name) })
	return ready
}

func (c *cluster) service(t *testing.T, name string, namespace ...string) *api.Service {
	t.Helper()
	ns := "default"
	if len(namespace) > 0 {
		ns = namespace[0]
	}
	var svc *api.Service
	c.eventually(t, 30*time.Second, "service "+ns+"/"+name, func() (err error) {
		svc, err = client.Get[*api.Service](context.Background(), c.client, ns, name)
		return err
	})
	return svc
}

// waitEndpoints waits until the service has exactly n ready addresses.
func (c *cluster) waitEndpoints(t *testing.T, name string, n int) {
	t.Helper()
	c.eventually(t, 60*time.Second, fmt.Sprintf("%d ready endpoints of %s", n, name), func() error {
		ep, err := client.Get[*api.Endpoints](context.Background(), c.client, "default", name)
		if err != nil {
			return err
		}
		if ips := endpointIPs(ep); len(ips) != n {
			return fmt.Errorf("ready endpoints %v", ips)
		}
		return nil
	})
}

func (c *cluster) waitNodeReady(t *testing.T) {
	t.Helper()
	c.eventually(t, 60*time.Second, "node "+c.name+" Ready", func() error {
		n, err := client.Get[*api.Node](context.Background(), c.client, "", c.name)
		if err != nil {
			return err
		}
		if !api.IsNodeReady(n) {
			return fmt.Errorf("node %s not Ready", n.Name)
		}
		return nil
	})
}

// deleteWorkloads removes what the test created so that the agent stops
// the containers and releases the pods' networks before skiffd stops.
func (c *cluster) deleteWorkloads() {
	if c.cmd == nil {
		return
	}
	for _, args := range [][]string{
		{"delete", "deployment", "web"}, {"delete", "replicasets", "-l", "app=web"},
		{"delete", "pods", "-l", "app=web"}, {"delete", "service", "web", "empty"},
	} {
		c.run(nil, args...) // absent objects are fine
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		list, err := client.List[*api.Pod](context.Background(), c.client, "default", client.ListOptions{})
		if err == nil && len(list.Items) == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Errorf("web pods still exist 90s after deletion; containers may be left running\n%s", c.diagnostics())
}
