package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API server's Prometheus series, on a registry of its own
// that plugins share through Server.Registerer.
type metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	watchers      *prometheus.GaugeVec
	watchEvents   *prometheus.CounterVec
	slowWatchers  *prometheus.CounterVec
	cacheRestarts *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_requests_total",
			Help: "API requests by verb, resource and HTTP status code.",
		}, []string{"verb", "resource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skiff_apiserver_request_duration_seconds",
			Help:    "Latency of non-watch API requests.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"verb", "resource"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_apiserver_watchers",
			Help: "Open watch streams by resource.",
		}, []string{"resource"}),
		watchEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_watch_events_total",
			Help: "Watch events written to clients by resource.",
		}, []string{"resource"}),
		slowWatchers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_watch_slow_closed_total",
			Help: "Watch streams closed because the client did not keep up.",
		}, []string{"resource"}),
		cacheRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_watch_cache_restarts_total",
			Help: "Times a resource's watch cache re-listed after its store watch failed.",
		}, []string{"resource"}),
	}
	// Go runtime and process metrics come from the default registry, which
	// the handler gathers too (controllers in this process register there).
	m.registry.MustRegister(m.requests, m.duration, m.watchers, m.watchEvents, m.slowWatchers, m.cacheRestarts)
	return m
}

func (m *metrics) handler() http.Handler {
	gather := prometheus.Gatherers{m.registry, prometheus.DefaultGatherer}
	return promhttp.HandlerFor(gather, promhttp.HandlerOpts{Registry: m.registry})
}

// requestLabels is filled in by the router so the outer middleware can label
// the request it timed.
type requestLabels struct {
	verb, resource string
}

// statusRecorder remembers the response code and passes Flush through, which
// watch streams need.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (m *metrics) observe(labels *requestLabels, code int, elapsed time.Duration) {
	verb, resource := labels.verb, labels.resource
	if verb == "" {
		verb = "OTHER"
	}
	if code == 0 {
		code = http.StatusOK
	}
	m.requests.WithLabelValues(verb, resource, strconv.Itoa(code)).Inc()
	if verb != "WATCH" {
		m.duration.WithLabelValues(verb, resource).Observe(elapsed.Seconds())
	}
}
