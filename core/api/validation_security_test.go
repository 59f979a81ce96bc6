package api

import (
	"strings"
	"testing"
)

func TestValidateSecurityContextAndEnvFrom(t *testing.T) {
	pod := func(mut func(*PodSpec)) *Pod {
		p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: validPodSpec()}
		mut(&p.Spec)
		return p
	}
	sc := func(mut func(*SecurityContext)) *Pod {
		return pod(func(s *PodSpec) {
			s.Containers[0].SecurityContext = &SecurityContext{}
			mut(s.Containers[0].SecurityContext)
		})
	}
	envFrom := func(sources ...EnvFromSource) *Pod {
		return pod(func(s *PodSpec) { s.Containers[0].EnvFrom = sources })
	}
	c0 := "spec.containers[0]"
	runValidationCases(t, []validationCase{
		{name: "valid pod and container contexts", obj: pod(func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{RunAsUser: Int64Ptr(1000), RunAsGroup: Int64Ptr(3000), RunAsNonRoot: BoolPtr(true),
				SupplementalGroups: []int64{4000}, FSGroup: Int64Ptr(2000), FSGroupChangePolicy: "OnRootMismatch"}
			s.Containers[0].SecurityContext = &SecurityContext{RunAsUser: Int64Ptr(0), ReadOnlyRootFilesystem: BoolPtr(true),
				AllowPrivilegeEscalation: BoolPtr(false), Capabilities: &Capabilities{Add: []string{"NET_BIND_SERVICE", "cap_chown"}, Drop: []string{"ALL"}}}
		})},
		{name: "negative pod ids", obj: pod(func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{RunAsUser: Int64Ptr(-1), RunAsGroup: Int64Ptr(-2), SupplementalGroups: []int64{5, -3}, FSGroup: Int64Ptr(1 << 32)}
		}), causes: []string{
			"spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
			"spec.securityContext.runAsGroup: Invalid value: -2: must be between 0 and 2147483647, inclusive",
			"spec.securityContext.fsGroup: Invalid value: 4294967296: must be between 0 and 2147483647, inclusive",
			"spec.securityContext.supplementalGroups[1]: Invalid value: -3: must be between 0 and 2147483647, inclusive",
		}},
		{name: "fsGroupChangePolicy", obj: pod(func(s *PodSpec) { s.SecurityContext = &PodSecurityContext{FSGroupChangePolicy: "Never"} }),
			causes: []string{`spec.securityContext.fsGroupChangePolicy: Unsupported value: "Never": supported values: "OnRootMismatch", "Always"`}},
		{name: "negative container ids", obj: sc(func(s *SecurityContext) { s.RunAsUser = Int64Ptr(-1); s.RunAsGroup = Int64Ptr(-1) }),
			causes: []string{
				c0 + ".securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
				c0 + ".securityContext.runAsGroup: Invalid value: -1: must be between 0 and 2147483647, inclusive",
			}},
		{name: "unknown capability", obj: sc(func(s *SecurityContext) {
			s.Capabilities = &Capabilities{Add: []string{"NET_ADMIN", "NET_FOO"}, Drop: []string{"CAP_"}}
		}), causes: []string{
			c0 + `.securityContext.capabilities.add[1]: Invalid value: "NET_FOO": not a Linux capability: use a name from capabilities(7) with or without the CAP_ prefix, such as NET_ADMIN, or ALL`,
			c0 + `.securityContext.capabilities.drop[0]: Invalid value: "CAP_": not a Linux capability: use a name from capabilities(7) with or without the CAP_ prefix, such as NET_ADMIN, or ALL`,
		}},
		{name: "privileged without escalation", obj: sc(func(s *SecurityContext) {
			s.Privileged = BoolPtr(true)
			s.AllowPrivilegeEscalation = BoolPtr(false)
		}), causes: []string{c0 + ".securityContext.allowPrivilegeEscalation: Invalid value: false: cannot set `allowPrivilegeEscalation` to false and `privileged` to true"}},
		{name: "SYS_ADMIN without escalation", obj: sc(func(s *SecurityContext) {
			s.Capabilities = &Capabilities{Add: []string{"sys_admin"}}
			s.AllowPrivilegeEscalation = BoolPtr(false)
		}), causes: []string{c0 + ".securityContext.allowPrivilegeEscalation: Invalid value: false: cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"}},
		{name: "privileged with escalation", obj: sc(func(s *SecurityContext) { s.Privileged = BoolPtr(true) })},
		{name: "valid envFrom", obj: envFrom(
			EnvFromSource{ConfigMapRef: &ConfigMapEnvSource{Name: "settings"}},
			EnvFromSource{Prefix: "DB_", SecretRef: &SecretEnvSource{Name: "db", Optional: BoolPtr(true)}})},
		{name: "envFrom with no source", obj: envFrom(EnvFromSource{Prefix: "X_"}),
			causes: []string{c0 + ".envFrom[0]: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"}},
		{name: "envFrom with two sources", obj: envFrom(EnvFromSource{ConfigMapRef: &ConfigMapEnvSource{Name: "a"}, SecretRef: &SecretEnvSource{Name: "b"}}),
			causes: []string{c0 + ".envFrom[0]: Forbidden: may not have more than one field specified at a time"}},
		{name: "envFrom names and prefix", obj: envFrom(
			EnvFromSource{ConfigMapRef: &ConfigMapEnvSource{}},
			EnvFromSource{Prefix: "1X", SecretRef: &SecretEnvSource{Name: "Bad_Name"}}),
			causes: []string{
				c0 + ".envFrom[0].configMapRef.name: Required value",
				c0 + `.envFrom[1].prefix: Invalid value: "1X": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')`,
				c0 + `.envFrom[1].secretRef.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			}},
		{name: "init container checked too", obj: pod(func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "init", Image: "busybox", SecurityContext: &SecurityContext{RunAsUser: Int64Ptr(-5)}}}
		}), causes: []string{"spec.initContainers[0].securityContext.runAsUser: Invalid value: -5: must be between 0 and 2147483647, inclusive"}},
	})
}

func TestCapabilityName(t *testing.T) {
	for in, want := range map[string]string{
		"NET_ADMIN": "CAP_NET_ADMIN", "cap_net_admin": "CAP_NET_ADMIN", "CAP_SYS_TIME": "CAP_SYS_TIME",
		"all": "ALL", "ALL": "ALL", "BPF": "CAP_BPF",
	} {
		if got, ok := CapabilityName(in); !ok || got != want {
			t.Errorf("CapabilityName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "CAP_", "CAP_ALL", "NET", "NETADMIN"} {
		if got, ok := CapabilityName(in); ok {
			t.Errorf("CapabilityName(%q) = %q, want it refused", in, got)
		}
	}
}

// Kubernetes security fields skiff does not apply are refused by name, at
// both levels, on the CLI's path (Decode) and the API server's
// (DecodeInto); seccompProfile, which skiff applies, decodes.
func TestDecodeRefusesUnsupportedSecurityFields(t *testing.T) {
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext:
    runAsUser: 1000
    fsGroup: 2000
    seccompProfile: {type: RuntimeDefault}
    sysctls: [{name: net.core.somaxconn, value: "1024"}]
  containers:
  - name: c
    image: busybox
    envFrom: [{prefix: APP_, configMapRef: {name: settings, optional: true}}]
    securityContext:
      runAsNonRoot: true
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
      procMount: Unmasked
      seLinuxOptions: {level: "s0:c1"}
      runAsUsr: 5
`
	want := []string{
		`document 1 (Pod "p"): field "spec.containers[0].securityContext.procMount" is not supported by skiff: skiff always mounts /proc with the runtime's masked paths (the Default procMount); remove procMount`,
		`document 1 (Pod "p"): unknown field "spec.containers[0].securityContext.runAsUsr"; did you mean "spec.containers[0].securityContext.runAsUser"?`,
		`document 1 (Pod "p"): field "spec.containers[0].securityContext.seLinuxOptions" is not supported by skiff: skiff does not apply SELinux labels; remove seLinuxOptions`,
		`document 1 (Pod "p"): field "spec.securityContext.sysctls" is not supported by skiff: skiff does not set namespaced sysctls; remove sysctls`,
	}
	_, err := Decode([]byte(manifest))
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("Decode error:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	var pod Pod
	err = DecodeInto([]byte(`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"b","securityContext":{"windowsOptions":{}}}]}}`), &pod)
	if err == nil || !strings.Contains(err.Error(), `field "spec.containers[0].securityContext.windowsOptions" is not supported by skiff`) {
		t.Fatalf("DecodeInto error = %v, want windowsOptions refused by name", err)
	}

	// What skiff applies decodes, into the fields the agent reads.
	supported := strings.NewReplacer("    sysctls: [{name: net.core.somaxconn, value: \"1024\"}]\n", "",
		"      procMount: Unmasked\n", "", "      seLinuxOptions: {level: \"s0:c1\"}\n", "", "      runAsUsr: 5\n", "").Replace(manifest)
	objs, err := Decode([]byte(supported))
	if err != nil {
		t.Fatal(err)
	}
	p := objs[0].(*Pod)
	c := p.Spec.Containers[0]
	if *p.Spec.SecurityContext.RunAsUser != 1000 || *p.Spec.SecurityContext.FSGroup != 2000 ||
		!*c.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.Capabilities.Drop[0] != "ALL" ||
		p.Spec.SecurityContext.SeccompProfile.Type != SeccompProfileRuntimeDefault ||
		c.EnvFrom[0].Prefix != "APP_" || c.EnvFrom[0].ConfigMapRef.Name != "settings" || !*c.EnvFrom[0].ConfigMapRef.Optional {
		t.Fatalf("decoded pod = %+v", p.Spec)
	}
	// DeepCopy keeps every new field.
	if cp := DeepCopy(p); !semanticEqual(cp.Spec, p.Spec) {
		t.Fatalf("DeepCopy lost security fields: %+v", cp.Spec)
	}
}

func TestValidateSeccompProfile(t *testing.T) {
	name := func(s string) *string { return &s }
	pod := func(podProfile, containerProfile *SeccompProfile) *Pod {
		p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: validPodSpec()}
		if podProfile != nil {
			p.Spec.SecurityContext = &PodSecurityContext{SeccompProfile: podProfile}
		}
		if containerProfile != nil {
			p.Spec.Containers[0].SecurityContext = &SecurityContext{SeccompProfile: containerProfile}
		}
		return p
	}
	const podPath, cPath = "spec.securityContext.seccompProfile", "spec.containers[0].securityContext.seccompProfile"
	runValidationCases(t, []validationCase{
		{name: "RuntimeDefault on the pod, Unconfined on the container", obj: pod(
			&SeccompProfile{Type: SeccompProfileRuntimeDefault}, &SeccompProfile{Type: SeccompProfileUnconfined})},
		{name: "Localhost with a nested relative file", obj: pod(nil,
			&SeccompProfile{Type: SeccompProfileLocalhost, LocalhostProfile: name("profiles/audit..v2.json")})},
		{name: "missing type", obj: pod(&SeccompProfile{}, nil),
			causes: []string{podPath + ".type: Required value: type is required when seccompProfile is set"}},
		{name: "unknown type", obj: pod(nil, &SeccompProfile{Type: "Default"}),
			causes: []string{cPath + `.type: Unsupported value: "Default": supported values: "Localhost", "RuntimeDefault", "Unconfined"`}},
		{name: "Localhost without a file", obj: pod(&SeccompProfile{Type: SeccompProfileLocalhost}, nil),
			causes: []string{podPath + ".localhostProfile: Required value: must be set when seccomp type is Localhost"}},
		{name: "Localhost with an empty file", obj: pod(nil, &SeccompProfile{Type: SeccompProfileLocalhost, LocalhostProfile: name("")}),
			causes: []string{cPath + ".localhostProfile: Required value: must be set when seccomp type is Localhost"}},
		{name: "a file for another type", obj: pod(nil, &SeccompProfile{Type: SeccompProfileRuntimeDefault, LocalhostProfile: name("p.json")}),
			causes: []string{cPath + `.localhostProfile: Invalid value: {"type":"RuntimeDefault","localhostProfile":"p.json"}: can only be set when seccomp type is Localhost`}},
		{name: "absolute path", obj: pod(&SeccompProfile{Type: SeccompProfileLocalhost, LocalhostProfile: name("/etc/p.json")}, nil),
			causes: []string{podPath + `.localhostProfile: Invalid value: "/etc/p.json": must be a relative path`}},
		{name: "path traversal, reported once", obj: pod(nil, &SeccompProfile{Type: SeccompProfileLocalhost, LocalhostProfile: name("../../etc/p.json")}),
			causes: []string{cPath + `.localhostProfile: Invalid value: "../../etc/p.json": must not contain '..'`}},
		{name: "absolute and traversing", obj: pod(&SeccompProfile{Type: SeccompProfileLocalhost, LocalhostProfile: name("/a/../p.json")}, nil),
			causes: []string{
				podPath + `.localhostProfile: Invalid value: "/a/../p.json": must be a relative path`,
				podPath + `.localhostProfile: Invalid value: "/a/../p.json": must not contain '..'`,
			}},
	})

	// A Helm chart's profile decodes, at both levels.
	objs, err := Decode([]byte(`apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {seccompProfile: {type: Localhost, localhostProfile: profiles/deny-mkdir.json}}
  containers:
  - {name: c, image: busybox, securityContext: {seccompProfile: {type: RuntimeDefault}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	spec := objs[0].(*Pod).Spec
	if sp := spec.SecurityContext.SeccompProfile; sp.Type != SeccompProfileLocalhost || *sp.LocalhostProfile != "profiles/deny-mkdir.json" {
		t.Fatalf("pod seccompProfile = %+v", sp)
	}
	if sp := spec.Containers[0].SecurityContext.SeccompProfile; sp.Type != SeccompProfileRuntimeDefault || sp.LocalhostProfile != nil {
		t.Fatalf("container seccompProfile = %+v", sp)
	}
}
