package schedule

import "github.com/skiff-sh/skiff/core/plugin"

// PluginSource is the part of the plugin host the scheduler reads: the
// current selection of each scheduler point. *plugin.Host implements it.
type PluginSource interface {
	Filters() []*plugin.Plugin
	Scorers() []*plugin.Plugin
}

// HostPolicies returns Options.Policies over a plugin host: every cycle
// takes the host's current selection, so a configuration change applies
// from the next pod on.
func HostPolicies(h PluginSource) func() Policies {
	return func() Policies {
		fs, ss := h.Filters(), h.Scorers()
		p := Policies{Filters: make([]FilterPolicy, len(fs)), Scorers: make([]ScorePolicy, len(ss))}
		for i, f := range fs {
			p.Filters[i] = f
		}
		for i, s := range ss {
			p.Scorers[i] = s
		}
		return p
	}
}
