package reconcile

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus metrics of every controller, labelled by controller name. They
// register with the default registry, which the API server's /metrics serves.
var (
	reconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "skiff", Subsystem: "controller", Name: "reconcile_total",
		Help: "Reconciles by controller and result (success or error).",
	}, []string{"controller", "result"})
	reconcileSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "skiff", Subsystem: "controller", Name: "reconcile_duration_seconds",
		Help:    "Time spent in one reconcile.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
	}, []string{"controller"})
)

func init() {
	prometheus.MustRegister(reconcileTotal, reconcileSeconds)
}

type controllerMetrics struct {
	success, failure prometheus.Counter
	duration         prometheus.Observer
}

func metricsFor(name string) *controllerMetrics {
	return &controllerMetrics{
		success:  reconcileTotal.WithLabelValues(name, "success"),
		failure:  reconcileTotal.WithLabelValues(name, "error"),
		duration: reconcileSeconds.WithLabelValues(name),
	}
}

func (m *controllerMetrics) observe(d time.Duration, err error) {
	m.duration.Observe(d.Seconds())
	if err != nil {
		m.failure.Inc()
	} else {
		m.success.Inc()
	}
}
