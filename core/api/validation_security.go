package api

import (
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// linuxCapabilities are the capability names Linux defines (capabilities(7)),
// without the CAP_ prefix.
var linuxCapabilities = map[string]bool{
	"CHOWN": true, "DAC_OVERRIDE": true, "DAC_READ_SEARCH": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "SETGID": true, "SETUID": true, "SETPCAP": true, "LINUX_IMMUTABLE": true,
	"NET_BIND_SERVICE": true, "NET_BROADCAST": true, "NET_ADMIN": true, "NET_RAW": true,
	"IPC_LOCK": true, "IPC_OWNER": true, "SYS_MODULE": true, "SYS_RAWIO": true, "SYS_CHROOT": true,
	"SYS_PTRACE": true, "SYS_PACCT": true, "SYS_ADMIN": true, "SYS_BOOT": true, "SYS_NICE": true,
	"SYS_RESOURCE": true, "SYS_TIME": true, "SYS_TTY_CONFIG": true, "MKNOD": true, "LEASE": true,
	"AUDIT_WRITE": true, "AUDIT_CONTROL": true, "SETFCAP": true, "MAC_OVERRIDE": true, "MAC_ADMIN": true,
	"SYSLOG": true, "WAKE_ALARM": true, "BLOCK_SUSPEND": true, "AUDIT_READ": true, "PERFMON": true,
	"BPF": true, "CHECKPOINT_RESTORE": true,
}

// AllCapabilities is the capability name that stands for every capability.
const AllCapabilities = "ALL"

// CapabilityName normalises a capability as a pod spec may write it
// ("net_admin", "NET_ADMIN", "CAP_NET_ADMIN") to the runtime's form
// ("CAP_NET_ADMIN"), or to AllCapabilities for "ALL". ok is false for a
// name Linux does not define.
func CapabilityName(name string) (normalized string, ok bool) {
	upper := strings.ToUpper(name)
	if upper == AllCapabilities {
		return AllCapabilities, true
	}
	bare := strings.TrimPrefix(upper, "CAP_")
	if !linuxCapabilities[bare] {
		return "", false
	}
	return "CAP_" + bare, true
}

var fsGroupChangePolicies = []string{"OnRootMismatch", "Always"}

// validatePodSecurityContext checks a pod's securityContext at path p.
func validatePodSecurityContext(sc *PodSecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	errs := idErrors(sc.RunAsUser, p.Child("runAsUser"), validation.IsValidUserID)
	errs = append(errs, idErrors(sc.RunAsGroup, p.Child("runAsGroup"), validation.IsValidGroupID)...)
	errs = append(errs, idErrors(sc.FSGroup, p.Child("fsGroup"), validation.IsValidGroupID)...)
	for i := range sc.SupplementalGroups {
		errs = append(errs, idErrors(&sc.SupplementalGroups[i], p.Child("supplementalGroups").Index(i), validation.IsValidGroupID)...)
	}
	if sc.FSGroupChangePolicy != "" {
		errs = append(errs, oneOf(sc.FSGroupChangePolicy, p.Child("fsGroupChangePolicy"), fsGroupChangePolicies...)...)
	}
	return append(errs, validateSeccompProfile(sc.SeccompProfile, p.Child("seccompProfile"))...)
}

// validateSecurityContext checks a container's securityContext at path p.
func validateSecurityContext(sc *SecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	errs := idErrors(sc.RunAsUser, p.Child("runAsUser"), validation.IsValidUserID)
	errs = append(errs, idErrors(sc.RunAsGroup, p.Child("runAsGroup"), validation.IsValidGroupID)...)
	addsSysAdmin := false
	if caps := sc.Capabilities; caps != nil {
		for _, list := range []struct {
			name  string
			names []string
		}{{"add", caps.Add}, {"drop", caps.Drop}} {
			for i, name := range list.names {
				normalized, ok := CapabilityName(name)
				if !ok {
					errs = append(errs, field.Invalid(p.Child("capabilities", list.name).Index(i), name,
						"not a Linux capability: use a name from capabilities(7) with or without the CAP_ prefix, such as NET_ADMIN, or ALL"))
				}
				addsSysAdmin = addsSysAdmin || (list.name == "add" && normalized == "CAP_SYS_ADMIN")
			}
		}
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		ap := p.Child("allowPrivilegeEscalation")
		if isTrue(sc.Privileged) {
			errs = append(errs, field.Invalid(ap, false, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if addsSysAdmin {
			errs = append(errs, field.Invalid(ap, false, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
		}
	}
	return append(errs, validateSeccompProfile(sc.SeccompProfile, p.Child("seccompProfile"))...)
}

var seccompProfileTypes = []SeccompProfileType{SeccompProfileLocalhost, SeccompProfileRuntimeDefault, SeccompProfileUnconfined}

// validateSeccompProfile checks a seccompProfile at path p with the
// API server's messages: a known type, and a localhostProfile exactly for
// Localhost, relative and without "..", so that it stays inside the node's
// seccomp directory.
func validateSeccompProfile(sp *SeccompProfile, p *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	var errs field.ErrorList
	switch sp.Type {
	case SeccompProfileLocalhost, SeccompProfileRuntimeDefault, SeccompProfileUnconfined:
	case "":
		errs = append(errs, field.Required(p.Child("type"), "type is required when seccompProfile is set"))
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), sp.Type, seccompProfileTypes))
	}
	lp := p.Child("localhostProfile")
	switch {
	case sp.Type != SeccompProfileLocalhost:
		if sp.LocalhostProfile != nil {
			errs = append(errs, field.Invalid(lp, sp, "can only be set when seccomp type is Localhost"))
		}
	case sp.LocalhostProfile == nil || *sp.LocalhostProfile == "":
		errs = append(errs, field.Required(lp, "must be set when seccomp type is Localhost"))
	default:
		name := *sp.LocalhostProfile
		if path.IsAbs(name) {
			errs = append(errs, field.Invalid(lp, name, "must be a relative path"))
		}
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				errs = append(errs, field.Invalid(lp, name, "must not contain '..'"))
				break
			}
		}
	}
	return errs
}

// validateEnvFrom checks a container's envFrom at path p.
func validateEnvFrom(sources []EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sources {
		ip := p.Index(i)
		if s.Prefix != "" {
			// The prefix must make a valid name of every key; keys are
			// [-._a-zA-Z0-9]+, so a valid name as prefix is enough.
			errs = append(errs, stringErrors(ip.Child("prefix"), s.Prefix, validation.IsEnvVarName(s.Prefix))...)
		}
		var set []string
		if r := s.ConfigMapRef; r != nil {
			set = append(set, "configMapRef")
			errs = append(errs, referencedName(r.Name, ip.Child("configMapRef", "name"))...)
		}
		if r := s.SecretRef; r != nil {
			set = append(set, "secretRef")
			errs = append(errs, referencedName(r.Name, ip.Child("secretRef", "name"))...)
		}
		switch len(set) {
		case 0:
			errs = append(errs, field.Invalid(ip, "", "must specify one of: `configMapRef` or `secretRef`"))
		case 1:
		default:
			errs = append(errs, field.Forbidden(ip, "may not have more than one field specified at a time"))
		}
	}
	return errs
}

// referencedName checks the name of a ConfigMap or Secret a pod refers to.
func referencedName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return stringErrors(p, name, validation.IsDNS1123Subdomain(name))
}

func idErrors(id *int64, p *field.Path, check func(int64) []string) field.ErrorList {
	if id == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range check(*id) {
		errs = append(errs, field.Invalid(p, *id, msg))
	}
	return errs
}
