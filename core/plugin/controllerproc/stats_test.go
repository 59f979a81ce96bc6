package controllerproc

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestGatherStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	total := prometheus.NewCounterVec(prometheus.CounterOpts{Name: reconcileTotalMetric}, []string{"controller", "result"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: reconcileDurationMetric, Buckets: []float64{0.001, 0.01, 0.1},
	}, []string{"controller"})
	reg.MustRegister(total, seconds)
	total.WithLabelValues("a", "success").Add(97)
	total.WithLabelValues("a", "error").Add(3)
	total.WithLabelValues("b", "success").Add(5)
	// a: 98 fast reconciles and 2 slow ones; the 99th in rank is slow.
	for range 98 {
		seconds.WithLabelValues("a").Observe(0.0005)
	}
	seconds.WithLabelValues("a").Observe(0.05)
	seconds.WithLabelValues("a").Observe(0.05)
	// b: past the last bucket, the last bound is reported.
	seconds.WithLabelValues("b").Observe(3)

	stats, err := GatherStats(reg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Stats{
		"a": {Calls: 100, Errors: 3, P99: 100 * time.Millisecond},
		"b": {Calls: 5, P99: 100 * time.Millisecond},
	}
	for name, w := range want {
		if got := stats[name]; got != w {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
	}
	if sum := Sum(stats); sum != (Stats{Calls: 105, Errors: 3, P99: 100 * time.Millisecond}) {
		t.Errorf("sum %+v", sum)
	}

	// With 1 slow reconcile in 100, the 99th is still fast.
	fast := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: []float64{0.001, 0.01}})
	for range 99 {
		fast.Observe(0.0005)
	}
	fast.Observe(0.005)
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(fast)
	families, _ := reg2.Gather()
	if p := P99(families[0].GetMetric()[0].GetHistogram()); p != time.Millisecond {
		t.Errorf("P99 %s, want 1ms", p)
	}
}
