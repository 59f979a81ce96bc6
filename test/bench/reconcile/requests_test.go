package reconcile

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/test/scenario"
)

// durationLine matches the sum and count series of the API server's request
// latency histogram.
var durationLine = regexp.MustCompile(`^skiff_apiserver_request_duration_seconds_(sum|count)\{resource="([^"]*)",verb="([^"]*)"\} (\S+)$`)

// logRequests logs, per verb and resource, how many requests the API server
// served during the run and their mean latency: where a slow run spent its
// time, without a profiler.
func logRequests(t *testing.T, c *scenario.Cluster) {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.Server.Config.Token)
	rec := httptest.NewRecorder()
	c.Server.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Logf("metrics: HTTP %d", rec.Code)
		return
	}
	type series struct{ sum, count float64 }
	byKey := map[string]*series{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		m := durationLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			continue
		}
		key := m[3] + " " + m[2]
		s := byKey[key]
		if s == nil {
			s = &series{}
			byKey[key] = s
		}
		if m[1] == "sum" {
			s.sum = v
		} else {
			s.count = v
		}
	}
	var lines []string
	for key, s := range byKey {
		if s.count >= 100 {
			lines = append(lines, fmt.Sprintf("%-28s %7.0f requests, mean %6.1f ms", key, s.count, 1000*s.sum/s.count))
		}
	}
	slices.Sort(lines)
	t.Logf("API requests (100 or more):\n%s", strings.Join(lines, "\n"))
}
