package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// ProbeTarget is the container a probe checks.
type ProbeTarget struct {
	PodIP       string
	ContainerID string
	Container   *api.Container
}

// Prober runs one probe; a nil error is success.
type Prober interface {
	Probe(ctx context.Context, target ProbeTarget, handler *api.ProbeHandler) error
}

// AlwaysSucceed is the prober of simulated nodes, whose pods have no
// processes to check.
type AlwaysSucceed struct{}

// Probe implements Prober.
func (AlwaysSucceed) Probe(context.Context, ProbeTarget, *api.ProbeHandler) error { return nil }

// netProber runs exec probes through the runtime and httpGet and tcpSocket
// probes against the pod IP.
type netProber struct{ rt runtime.Plugin }

// Probe implements Prober.
func (p *netProber) Probe(ctx context.Context, t ProbeTarget, h *api.ProbeHandler) error {
	switch {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := p.rt.Exec(ctx, t.ContainerID, runtime.ExecOptions{Command: h.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("exec %q: exit code %d: %s", h.Exec.Command, code, strings.TrimSpace(out.String()))
		}
		return nil
	case h.HTTPGet != nil:
		g := h.HTTPGet
		port, err := resolvePort(g.Port, t.Container)
		if err != nil {
			return err
		}
		host := g.Host
		if host == "" {
			host = t.PodIP
		}
		scheme := strings.ToLower(g.Scheme)
		if scheme == "" {
			scheme = "http"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
		if err != nil {
			return err
		}
		for _, hd := range g.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		req.Header.Set("User-Agent", "skiff-probe/1")
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: HTTP %d", req.URL, resp.StatusCode)
		}
		return nil
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, t.Container)
		if err != nil {
			return err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("probe has no handler: set exec, httpGet or tcpSocket")
}

func resolvePort(p intstr.IntOrString, c *api.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("probe port %q: no container port of that name", p.StrVal)
}

// probeSet runs a container attempt's probes: startup first, then liveness
// and readiness. It tells the worker when a result changes.
type probeSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	onChange func()
	started  bool
	ready    bool
	failure  bool // liveness or startup failed: restart
	// failedProbe is the probe kind that set failure, for the event.
	failedProbe string
}

func (w *podWorker) startProbes(pod *api.Pod, c *api.Container, st *containerState) *probeSet {
	if c.StartupProbe == nil && c.LivenessProbe == nil && c.ReadinessProbe == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(w.a.ctx)
	ps := &probeSet{cancel: cancel, started: c.StartupProbe == nil, ready: c.ReadinessProbe == nil, onChange: w.signal}
	target := ProbeTarget{PodIP: w.podIP, ContainerID: st.id, Container: c}
	run := func(p *api.Probe, onResult func(ok bool) bool) {
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			w.runProbe(ctx, target, p, onResult)
		}()
	}
	fail := func(kind string) func() {
		return func() { ps.failure, ps.failedProbe = true, kind }
	}
	afterStart := func() {
		if c.LivenessProbe != nil {
			run(c.LivenessProbe, func(ok bool) bool {
				if !ok {
					ps.set(fail("liveness"))
					return false
				}
				return true
			})
		}
		if c.ReadinessProbe != nil {
			run(c.ReadinessProbe, func(ok bool) bool {
				ps.set(func() { ps.ready = ok })
				return true
			})
		}
	}
	if c.StartupProbe != nil {
		run(c.StartupProbe, func(ok bool) bool {
			if ok {
				ps.set(func() { ps.started = true })
				afterStart()
			} else {
				ps.set(fail("startup"))
			}
			return false
		})
	} else {
		afterStart()
	}
	return ps
}

func (ps *probeSet) set(f func()) {
	ps.mu.Lock()
	before := [3]bool{ps.started, ps.ready, ps.failure}
	f()
	after := [3]bool{ps.started, ps.ready, ps.failure}
	notify := ps.onChange
	ps.mu.Unlock()
	if before != after && notify != nil {
		notify()
	}
}

func (ps *probeSet) results() (started, ready bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.started, ps.ready
}

func (ps *probeSet) failed() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.failure
}

// failedKind is the kind of probe that failed ("liveness", "startup").
func (ps *probeSet) failedKind() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.failedProbe
}

func (ps *probeSet) stop() {
	ps.cancel()
	ps.wg.Wait()
}

// runProbe probes every period after the initial delay and reports a
// result once successThreshold successes or failureThreshold failures are
// consecutive. onResult returns false to stop probing.
func (w *podWorker) runProbe(ctx context.Context, t ProbeTarget, p *api.Probe, onResult func(ok bool) bool) {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	successes, failures := max(p.SuccessThreshold, 1), max(p.FailureThreshold, 1)
	delay := time.Duration(p.InitialDelaySeconds) * time.Second
	okRun, failRun := int32(0), int32(0)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := w.a.prober.Probe(pctx, t, &p.ProbeHandler)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
			// Every failed attempt is an event, as the kubelet records
			// it; the recorder folds repeats into a count.
			if pod, _ := w.snapshot(); pod != nil {
				w.a.events.Eventf(pod, reconcile.EventWarning, EventUnhealthy, "%s probe failed: %v", probeKind(t.Container, p), err)
			}
		}
		switch {
		case okRun == successes:
			if !onResult(true) {
				return
			}
		case failRun == failures:
			w.a.log.Debug("probe failed", "container", t.Container.Name, "err", err)
			if !onResult(false) {
				return
			}
			failRun = 0
		}
		timer.Reset(period)
	}
}
