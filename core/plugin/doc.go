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
// the current plugins of a point (Filters, Scorers, Admitters, Networks,
// Proxies) once per scheduling cycle or request. Validate checks a selection
// without loading processes or modules, so a bad config fails before it
// touches the machine. Network and proxy plugins are called with Plan and
// Rules; a *Plugin satisfies network.Plugin and proxy.Plugin, so it drops in
// where the node agent expects a planner.
package plugin
