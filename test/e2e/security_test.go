package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/test/images"
)

// A Helm-style pod (pod and container securityContext, envFrom from a
// ConfigMap) applies unchanged and runs as asked: its ids, groups, a
// read-only rootfs beside a writable fsGroup-owned emptyDir, no_new_privs,
// no capabilities, the runtime's default seccomp filter, and the
// environment with env winning over envFrom.
func TestSecurityContextAndEnvFrom(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "security")
	script := `echo "ids $(id -u) $(id -g) $(id -G)"
echo "env greeting=$GREETING level=$LEVEL prefixed=$APP_LEVEL digit=$APP_1ST"
touch /rootfile 2>/dev/null && echo "rootfs writable" || echo "rootfs read-only"
echo x > /scratch/f && echo "scratch writable group $(stat -c %g /scratch)"
grep -E '^(NoNewPrivs|CapEff|Seccomp):' /proc/self/status`
	c.apply(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: app-settings, namespace: %[1]s}
data: {GREETING: hello, LEVEL: info, 1ST: first}
---
apiVersion: v1
kind: Pod
metadata: {name: secure, namespace: %[1]s}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    supplementalGroups: [4000]
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: app
    image: %[2]s
    imagePullPolicy: Never
    command: ["sh", "-c", %[3]q]
    envFrom:
    - configMapRef: {name: app-settings}
    - prefix: APP_
      configMapRef: {name: app-settings}
    - secretRef: {name: not-there, optional: true}
    env: [{name: LEVEL, value: debug}]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
`, ns, images.WebRef, script))

	eventually(t, 60*time.Second, "pod secure Succeeded", func() error {
		if p := c.pod(t, ns, "secure"); p.Status.Phase != "Succeeded" {
			return fmt.Errorf("phase %q: %+v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		return nil
	})
	want := []string{
		"ids 1000 3000 3000 2000 4000",
		"env greeting=hello level=debug prefixed=info digit=first",
		"rootfs read-only",
		"scratch writable group 2000",
		"CapEff:\t0000000000000000", // /proc/self/status order
		"NoNewPrivs:\t1",
		"Seccomp:\t2", // filter mode: containerd's default profile
	}
	if out := c.mustSkiff(t, "logs", "secure", "-n", ns); strings.TrimSpace(out) != strings.Join(want, "\n") {
		t.Errorf("skiff logs secure:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	// "1ST" is no variable name without a prefix: skipped, with the
	// kubelet's event.
	eventually(t, 30*time.Second, "InvalidEnvironmentVariableNames event", func() error {
		out, _, _ := c.skiff("describe", "pod", "secure", "-n", ns)
		if !strings.Contains(out, "InvalidEnvironmentVariableNames") || !strings.Contains(out, "Keys [1ST] from the EnvFrom configMap "+ns+"/app-settings were skipped") {
			return fmt.Errorf("describe pod secure lacks the skipped-keys event:\n%s", out)
		}
		return nil
	})
}

// Containers that must not start show CreateContainerConfigError with the
// reason, as the kubelet words it, and a Failed event: runAsNonRoot with
// an image that runs as root, a Localhost seccomp profile missing from the
// node, and envFrom of a ConfigMap that does not exist.
func TestContainerConfigErrors(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "configerr")
	c.apply(t, webPod(ns, "rootless", "  securityContext: {runAsNonRoot: true}\n"))
	c.apply(t, webPod(ns, "nosettings", "    envFrom: [{configMapRef: {name: missing-settings}}]\n"))
	c.apply(t, webPod(ns, "noprofile", "    securityContext: {seccompProfile: {type: Localhost, localhostProfile: e2e/missing.json}}\n"))
	for name, want := range map[string]string{
		"rootless":   "container has runAsNonRoot and image will run as root",
		"nosettings": "configmap " + ns + "/missing-settings",
		"noprofile":  "seccomp profile " + filepath.Join(c.dataDir, "agent", "seccomp", "e2e", "missing.json") + " does not exist",
	} {
		eventually(t, 60*time.Second, name+" in CreateContainerConfigError", func() error {
			row, err := c.getPo(t, ns, name)
			if err != nil {
				return err
			}
			cs := containerStatus(c.pod(t, ns, name))
			if row.status != "CreateContainerConfigError" || cs == nil || cs.State.Waiting == nil || !strings.Contains(cs.State.Waiting.Message, want) {
				return fmt.Errorf("get po: %+v; container %+v", row, cs)
			}
			return nil
		})
		eventually(t, 30*time.Second, name+" Failed event", func() error {
			if out, _, _ := c.skiff("describe", "pod", name, "-n", ns); !strings.Contains(out, "Failed") || !strings.Contains(out, want) {
				return fmt.Errorf("describe pod %s lacks the Failed event:\n%s", name, out)
			}
			return nil
		})
	}
	// Creating the ConfigMap lets the waiting pod start.
	c.apply(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: missing-settings, namespace: %s}\ndata: {MODE: late}\n", ns))
	p := waitRunning(t, c, ns, "nosettings")
	if out := c.mustSkiff(t, "exec", p.Name, "-n", ns, "--", "sh", "-c", "echo $MODE"); strings.TrimSpace(out) != "late" {
		t.Errorf("MODE in the started container = %q, want late", out)
	}
}

// Kubernetes security fields skiff does not apply are refused by `skiff
// apply`, by name, rather than accepted and ignored.
func TestApplyRefusesUnsupportedSecurityFields(t *testing.T) {
	c := requireCluster(t)
	f := filepath.Join(c.dir, "apparmor.yaml")
	manifest := webPod("default", "apparmor", "    securityContext: {appArmorProfile: {type: RuntimeDefault}}\n")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := c.skiff("apply", "-f", f)
	if code == 0 || !strings.Contains(errOut, `field "spec.containers[0].securityContext.appArmorProfile" is not supported by skiff`) {
		t.Fatalf("skiff apply with appArmorProfile: exit %d, stderr %q; want it refused by name", code, errOut)
	}
	if _, _, code := c.skiff("get", "pod", "apparmor", "-n", "default"); code == 0 {
		t.Fatal("the refused pod exists")
	}
}
