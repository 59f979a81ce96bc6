// Package plugin is skiffd's plugin host: a registry of compiled-in plugins,
// three loaders (builtin, process over hashicorp/go-plugin, wasm under
// wazero) and one wrapper that gives every loaded plugin the same per-call
// timeout, failure policy, metrics and status.
//
// The host is driven by a selection of Specs (one per configured plugin, as
// the config file lists them):
//
//	reg := plugin.NewRegistry()
//	reg.Register(sdk.NewDescriptor("zone-pref", sdk.PointScore), zonepref.New)
//	host := plugin.NewHost(plugin.Options{Registry: reg, Metrics: prometheus.DefaultRegisterer})
//	err := host.Apply([]plugin.Spec{{Name: "zone-pref", Point: sdk.PointScore, Wasm: "/var/lib/skiff/zone.wasm", Weight: 2}})
//	for _, s := range host.Scorers() { ... s.Score(ctx, pod, snapshot, candidates, scores) ... }
//
// Apply validates the whole selection and swaps it atomically; callers take
// the current plugins of a point (Filters, Scorers, Admitters) once per
// scheduling cycle or request.
package plugin
