// Command web is skiff's example app: a tiny HTTP server that answers with
// the pod's hostname and IP, so a request through a Service shows which
// replica served it.
//
//	GET /         "hostname=<h> ip=<pod IP>"
//	GET /healthz  200 "ok" while the process runs (liveness)
//	GET /ready    200 "ready", or 503 when READY=false or the file named by
//	              NOT_READY_FILE (default /tmp/not-ready) exists (readiness)
//
// It listens on $PORT (default 8080), logs one line per request to stdout and
// shuts down gracefully on SIGTERM, exiting 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	addr := ":" + envOr("PORT", "8080")
	hostname, _ := os.Hostname()
	srv := &http.Server{Addr: addr, Handler: logRequests(newMux(hostname)), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("web: listening on %s as %s ip=%s", addr, hostname, podIP())

	select {
	case err := <-errc:
		log.Fatalf("web: %v", err)
	case <-ctx.Done():
	}
	log.Printf("web: signal received, shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("web: shutdown: %v", err)
	}
	log.Printf("web: stopped")
}

func newMux(hostname string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hostname=%s ip=%s\n", hostname, podIP())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// ready is re-evaluated per request so a test can flip readiness by
// creating or removing the file with `skiff exec`.
func ready() bool {
	if os.Getenv("READY") == "false" {
		return false
	}
	_, err := os.Stat(envOr("NOT_READY_FILE", "/tmp/not-ready"))
	return err != nil
}

// podIP is $POD_IP when the agent sets it, else the first non-loopback IPv4
// address of the pod's network namespace.
func podIP() string {
	if ip := os.Getenv("POD_IP"); ip != "" {
		return ip
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "unknown"
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return "unknown"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %s %d %s", r.RemoteAddr, r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Microsecond))
	})
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
