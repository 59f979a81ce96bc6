package app

import (
	"slices"
	"strings"
	"testing"
)

func TestEnabledControllers(t *testing.T) {
	all := controllerNames()
	for name, tc := range map[string]struct {
		list []string
		want []string
	}{
		"all":              {[]string{"*"}, all},
		"all but one":      {[]string{"*", "-cronjob"}, slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "cronjob" })},
		"only named":       {[]string{"deployment", "replicaset"}, []string{"deployment", "replicaset"}},
		"later entry wins": {[]string{"-gc", "gc"}, []string{"gc"}},
		"none":             {nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := enabledControllers(tc.list)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if len(all) != 10 {
		t.Fatalf("builtin controllers: %v, want the ten of the reconcile issue", all)
	}
}

func TestPlanControllersRejectsBadSelection(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"unknown name":       {func(c *Config) { c.Controllers = []string{"*", "deploymnet"} }, `controllers[1]: unknown controller "deploymnet"`},
		"zero workers":       {func(c *Config) { c.ControllerWorkers = 0 }, "controller-workers: must be >= 1"},
		"args for unknown":   {func(c *Config) { c.ControllerArgs = map[string]map[string]any{"nope": {}} }, "controller-args.nope: unknown controller"},
		"args for no-args":   {func(c *Config) { c.ControllerArgs = map[string]map[string]any{"job": {"x": 1}} }, "controller-args.job: controller job takes no args"},
		"bad nodelifecycle":  {func(c *Config) { c.ControllerArgs = map[string]map[string]any{"nodelifecycle": {"gracePeriod": "soon"}} }, "gracePeriod"},
		"short leader lease": {func(c *Config) { c.LeaderElection.LeaseDuration = 0 }, "leader-election.lease-duration"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			tc.mutate(&cfg)
			err := cfg.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
	cfg := defaultConfig()
	plan, err := planControllers(&cfg)
	if err != nil || len(plan.factories) != 10 {
		t.Fatalf("default plan: %v, %v", plan, err)
	}
}
