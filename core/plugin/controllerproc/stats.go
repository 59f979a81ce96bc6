package controllerproc

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The reconcile metrics core/reconcile registers with the default registry.
const (
	reconcileTotalMetric    = "skiff_controller_reconcile_total"
	reconcileDurationMetric = "skiff_controller_reconcile_duration_seconds"
)

// GatherStats reads the reconcile metrics of every controller in g, by
// controller name.
func GatherStats(g prometheus.Gatherer) (map[string]Stats, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]Stats{}
	for _, mf := range families {
		switch mf.GetName() {
		case reconcileTotalMetric:
			for _, m := range mf.GetMetric() {
				name := labelValue(m, "controller")
				st := out[name]
				n := uint64(m.GetCounter().GetValue())
				st.Calls += n
				if labelValue(m, "result") == "error" {
					st.Errors += n
				}
				out[name] = st
			}
		case reconcileDurationMetric:
			for _, m := range mf.GetMetric() {
				name := labelValue(m, "controller")
				st := out[name]
				st.P99 = P99(m.GetHistogram())
				out[name] = st
			}
		}
	}
	return out, nil
}

// Sum adds up the stats of several controllers (one process may run more
// than one): calls and errors add, the p99 is the largest.
func Sum(stats map[string]Stats) Stats {
	var total Stats
	for _, s := range stats {
		total.Calls += s.Calls
		total.Errors += s.Errors
		total.P99 = max(total.P99, s.P99)
	}
	return total
}

// P99 is the upper bound of the histogram bucket holding the 99th
// percentile: an upper estimate, exact to the bucket layout. Past the last
// bucket it is that bucket's bound, the most that can be said.
func P99(h *dto.Histogram) time.Duration {
	total := h.GetSampleCount()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(0.99 * float64(total)))
	var bound float64
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			break
		}
		bound = b.GetUpperBound()
		if b.GetCumulativeCount() >= rank {
			break
		}
	}
	return time.Duration(bound * float64(time.Second))
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
