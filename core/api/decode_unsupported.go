package api

import "reflect"

// unsupportedFields are Kubernetes fields skiff knows but does not apply,
// by the Go type that would hold them and the JSON name, with what to do
// instead. Decoding refuses them by name: accepting and ignoring a security
// setting would run a workload less confined than its author asked for,
// and "unknown field" would read as a typo.
var unsupportedFields = map[reflect.Type]map[string]string{
	reflect.TypeFor[PodSecurityContext](): {
		"seLinuxOptions":           "skiff does not apply SELinux labels; remove seLinuxOptions",
		"seLinuxChangePolicy":      "skiff does not apply SELinux labels; remove seLinuxChangePolicy",
		"windowsOptions":           "skiff runs Linux containers only; remove windowsOptions",
		"sysctls":                  "skiff does not set namespaced sysctls; remove sysctls",
		"appArmorProfile":          "skiff does not apply AppArmor profiles; remove appArmorProfile",
		"supplementalGroupsPolicy": "skiff always merges the image's groups with supplementalGroups (the Merge policy); remove supplementalGroupsPolicy",
	},
	reflect.TypeFor[SecurityContext](): {
		"seLinuxOptions":  "skiff does not apply SELinux labels; remove seLinuxOptions",
		"windowsOptions":  "skiff runs Linux containers only; remove windowsOptions",
		"appArmorProfile": "skiff does not apply AppArmor profiles; remove appArmorProfile",
		"procMount":       "skiff always mounts /proc with the runtime's masked paths (the Default procMount); remove procMount",
	},
}

// unsupportedField says why field name of struct type t is refused, when
// it is a Kubernetes field skiff does not apply.
func unsupportedField(t reflect.Type, name string) (why string, ok bool) {
	why, ok = unsupportedFields[t][name]
	return why, ok
}
