package plugin

import (
	"fmt"
	"sort"
	"sync"

	"github.com/skiff-sh/skiff/sdk"
)

// Registry holds the compiled-in plugins, by extension point and name. The
// set of builtins is wired in one place (cmd/skiffd), one Register per plugin.
type Registry struct {
	mu      sync.RWMutex
	entries map[sdk.Point]map[string]registered
}

type registered struct {
	desc    sdk.Descriptor
	factory sdk.Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: map[sdk.Point]map[string]registered{}} }

// Register adds a builtin plugin. A second plugin with the same point and
// name, an invalid descriptor or a nil factory is an error.
func (r *Registry) Register(desc sdk.Descriptor, factory sdk.Factory) error {
	if err := desc.Validate(); err != nil {
		return fmt.Errorf("register builtin: %w", err)
	}
	if factory == nil {
		return fmt.Errorf("register builtin %s %q: factory is nil", desc.Point, desc.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	byName := r.entries[desc.Point]
	if byName == nil {
		byName = map[string]registered{}
		r.entries[desc.Point] = byName
	}
	if _, dup := byName[desc.Name]; dup {
		return fmt.Errorf("register builtin %s %q: already registered", desc.Point, desc.Name)
	}
	byName[desc.Name] = registered{desc: desc, factory: factory}
	return nil
}

// MustRegister is Register for wiring code, where a mistake is a bug.
func (r *Registry) MustRegister(desc sdk.Descriptor, factory sdk.Factory) {
	if err := r.Register(desc, factory); err != nil {
		panic(err)
	}
}

func (r *Registry) lookup(point sdk.Point, name string) (registered, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[point][name]
	if !ok {
		return registered{}, fmt.Errorf("no builtin %s plugin named %q (builtins: %v); set process: or wasm: to load an external one",
			point, name, r.namesLocked(point))
	}
	return e, nil
}

// Names lists the builtin plugins of a point, sorted.
func (r *Registry) Names(point sdk.Point) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked(point)
}

func (r *Registry) namesLocked(point sdk.Point) []string {
	names := make([]string, 0, len(r.entries[point]))
	for n := range r.entries[point] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
