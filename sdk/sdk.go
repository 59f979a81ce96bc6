package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Point names an extension point. A plugin implements exactly one.
type Point string

// The extension points. Their contract versions are listed in Versions.
const (
	PointFilter     Point = "scheduler.filter"
	PointScore      Point = "scheduler.score"
	PointAdmission  Point = "admission"
	PointController Point = "controller"
	PointNetwork    Point = "network"
	PointProxy      Point = "proxy"
	PointRuntime    Point = "runtime"
)

// Versions maps each extension point to the contract version this sdk
// speaks. A plugin built against another version is refused at load time.
var Versions = map[Point]string{
	PointFilter:     "scheduler.v1",
	PointScore:      "scheduler.v1",
	PointAdmission:  "admission.v1",
	PointController: "controller.v1",
	PointNetwork:    "network.v1",
	PointProxy:      "proxy.v1",
	PointRuntime:    "runtime.v1",
}

// Valid reports whether p is a known extension point.
func (p Point) Valid() bool { _, ok := Versions[p]; return ok }

// Descriptor is how a plugin describes itself.
type Descriptor struct {
	// Name is the plugin's name, unique per extension point, e.g. "zone-pref".
	Name string `json:"name"`
	// Point is the extension point the plugin implements.
	Point Point `json:"point"`
	// Version is the contract version, Versions[Point] when built with this sdk.
	Version string `json:"version"`
}

// NewDescriptor returns the descriptor of plugin name implementing point at
// the contract version this sdk speaks.
func NewDescriptor(name string, point Point) Descriptor {
	return Descriptor{Name: name, Point: point, Version: Versions[point]}
}

// Validate checks that d names a known point at the version this sdk speaks.
func (d Descriptor) Validate() error {
	if d.Name == "" {
		return fmt.Errorf("plugin descriptor: name is empty")
	}
	want, ok := Versions[d.Point]
	if !ok {
		return fmt.Errorf("plugin %q: unknown extension point %q", d.Name, d.Point)
	}
	if d.Version != want {
		return fmt.Errorf("plugin %q: point %s speaks contract %q, this host speaks %q: rebuild the plugin against this skiff sdk",
			d.Name, d.Point, d.Version, want)
	}
	return nil
}

// Args are a plugin's configuration as a JSON object (the `args:` map of its
// entry in skiffd's config file). Empty means no arguments.
type Args []byte

// Decode unmarshals the arguments into v, refusing unknown fields so that a
// misspelt argument is reported instead of silently ignored.
func (a Args) Decode(v any) error {
	if len(bytes.TrimSpace(a)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(a))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("args: %w", err)
	}
	return nil
}

// ArgsFrom encodes a map of arguments as Args.
func ArgsFrom(m map[string]any) (Args, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	return b, nil
}

// Handle gives a plugin the capabilities of the host it runs in. Hosts may
// offer more through optional interfaces found by type assertion.
type Handle interface {
	// Logger returns a logger tagged with the plugin's name.
	Logger() *slog.Logger
}

// Factory builds a configured plugin. The value it returns implements the
// interface of the descriptor's point (e.g. scheduler.ScorePlugin). The same
// factory serves the builtin, process and WASM loaders.
type Factory func(args Args, h Handle) (any, error)

// LoggerHandle is a Handle backed by a logger.
type LoggerHandle struct{ Log *slog.Logger }

// Logger implements Handle.
func (h LoggerHandle) Logger() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}
