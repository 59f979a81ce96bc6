package plugin

import (
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/skiff-sh/skiff/sdk"
)

// FailurePolicy says what a failed call (error, timeout, crash) means.
type FailurePolicy string

const (
	// FailClosed: the pod is not scheduled in this cycle / the request is
	// denied. The default: a broken policy must not be silently ignored.
	FailClosed FailurePolicy = "fail-closed"
	// FailOpen: the plugin is skipped for this call.
	FailOpen FailurePolicy = "fail-open"
)

// LoaderKind is how a plugin is loaded.
type LoaderKind string

const (
	LoaderBuiltin LoaderKind = "builtin"
	LoaderProcess LoaderKind = "process"
	LoaderWasm    LoaderKind = "wasm"
)

// Defaults applied to a Spec that leaves the field empty.
const (
	DefaultTimeout          = time.Second
	DefaultMemoryLimitPages = 4096 // 256 MiB of WASM linear memory
)

// Spec is one configured plugin, as in skiffd's config file:
//
//	scheduler:
//	  score:
//	    - {name: zone-pref, wasm: /var/lib/skiff/zone.wasm, sha256: "…", weight: 2, args: {label: zone}}
//
// The point comes from where the entry sits (scheduler.score); an entry with
// neither process nor wasm is a builtin.
type Spec struct {
	Name  string    `json:"name" koanf:"name"`
	Point sdk.Point `json:"point" koanf:"point"`
	// Process is the path of a go-plugin binary; Wasm the path of a module.
	Process string `json:"process,omitempty" koanf:"process"`
	Wasm    string `json:"wasm,omitempty" koanf:"wasm"`
	// SHA256 pins the binary or module (64 hex digits); a mismatch refuses
	// to load it.
	SHA256 string `json:"sha256,omitempty" koanf:"sha256"`
	// Weight multiplies a score plugin's scores (default 1).
	Weight int64 `json:"weight,omitempty" koanf:"weight"`
	// Args configure the plugin; they reach its factory as JSON.
	Args map[string]any `json:"args,omitempty" koanf:"args"`
	// Timeout bounds each call (default DefaultTimeout).
	Timeout time.Duration `json:"timeout,omitempty" koanf:"timeout"`
	// FailurePolicy is fail-closed (default) or fail-open.
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty" koanf:"failurePolicy"`
	// MemoryLimitPages caps a WASM instance's memory in 64 KiB pages
	// (default DefaultMemoryLimitPages).
	MemoryLimitPages uint32 `json:"memoryLimitPages,omitempty" koanf:"memoryLimitPages"`
}

// Loader returns how the spec is loaded.
func (s Spec) Loader() LoaderKind {
	switch {
	case s.Process != "":
		return LoaderProcess
	case s.Wasm != "":
		return LoaderWasm
	}
	return LoaderBuiltin
}

// Path is the process binary or WASM module, "" for a builtin.
func (s Spec) Path() string { return s.Process + s.Wasm }

// key identifies a plugin within a selection.
func (s *Spec) key() string { return string(s.Point) + "/" + s.Name }

// withDefaults returns s with empty fields set to their defaults.
func (s Spec) withDefaults() Spec {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.FailurePolicy == "" {
		s.FailurePolicy = FailClosed
	}
	if s.Weight == 0 && s.Point == sdk.PointScore {
		s.Weight = 1
	}
	if s.MemoryLimitPages == 0 && s.Wasm != "" {
		s.MemoryLimitPages = DefaultMemoryLimitPages
	}
	return s
}

// validate checks one spec (with defaults applied) against the registry.
func (s *Spec) validate(reg *Registry) error {
	where := fmt.Sprintf("plugin %s %q", s.Point, s.Name)
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", where, field, fmt.Sprintf(format, args...))
	}
	if s.Name == "" {
		return fmt.Errorf("plugin at point %s: name: must be set", s.Point)
	}
	if !s.Point.Valid() {
		return bad("point", "unknown extension point %q", s.Point)
	}
	if s.Process != "" && s.Wasm != "" {
		return bad("process", "set either process or wasm, not both")
	}
	if s.Loader() == LoaderWasm && !wasmPoints[s.Point] {
		return bad("wasm", "the %s point cannot be served by a WASM module; use builtin or process", s.Point)
	}
	if s.Loader() != LoaderBuiltin && !abiPoints[s.Point] {
		return bad(string(s.Loader()), "the %s point is builtin-only in this skiff version", s.Point)
	}
	switch s.Loader() {
	case LoaderBuiltin:
		if reg == nil {
			return bad("name", "no builtin registry configured")
		}
		if _, err := reg.lookup(s.Point, s.Name); err != nil {
			return bad("name", "%v", err)
		}
		if s.SHA256 != "" {
			return bad("sha256", "only a process binary or WASM module can be pinned")
		}
	default:
		if fi, err := os.Stat(s.Path()); err != nil {
			return bad(string(s.Loader()), "%v", err)
		} else if !fi.Mode().IsRegular() {
			return bad(string(s.Loader()), "%s is not a regular file", s.Path())
		}
		if s.SHA256 != "" {
			if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != 32 {
				return bad("sha256", "want 64 hex digits, got %q", s.SHA256)
			}
		}
	}
	if s.Weight < 0 {
		return bad("weight", "must be >= 0, got %d", s.Weight)
	}
	if s.Weight != 0 && s.Point != sdk.PointScore {
		return bad("weight", "only scheduler.score plugins have a weight")
	}
	if s.Timeout < 0 {
		return bad("timeout", "must be > 0, got %s", s.Timeout)
	}
	if s.FailurePolicy != FailClosed && s.FailurePolicy != FailOpen {
		return bad("failurePolicy", "must be %s or %s, got %q", FailClosed, FailOpen, s.FailurePolicy)
	}
	if s.FailurePolicy == FailOpen && planPoints[s.Point] {
		return bad("failurePolicy", "a %s plugin has no fallback plan: a failed call keeps what is installed and is retried; use %s", s.Point, FailClosed)
	}
	if s.MemoryLimitPages != 0 && s.Loader() != LoaderWasm {
		return bad("memoryLimitPages", "applies to wasm plugins only")
	}
	if s.MemoryLimitPages > 65536 {
		return bad("memoryLimitPages", "must be <= 65536 (4 GiB), got %d", s.MemoryLimitPages)
	}
	if _, err := sdk.ArgsFrom(s.Args); err != nil {
		return bad("args", "%v", err)
	}
	return nil
}

// abiPoints are served over the plugin ABI (process and wasm loaders).
var abiPoints = map[sdk.Point]bool{
	sdk.PointFilter: true, sdk.PointScore: true, sdk.PointAdmission: true, sdk.PointNetwork: true, sdk.PointProxy: true,
}

// wasmPoints may be WASM modules: every ABI point computes from its input
// alone, so a module without syscalls can serve it.
var wasmPoints = abiPoints

// planPoints compute a plan the host applies; a failed call has nothing to
// fall back to, so they are fail-closed only.
var planPoints = map[sdk.Point]bool{sdk.PointNetwork: true, sdk.PointProxy: true}

// sameLoad reports whether a and b load the same plugin the same way, so a
// loaded instance of a can serve b.
func sameLoad(a, b *Spec) bool { return reflect.DeepEqual(a, b) }
