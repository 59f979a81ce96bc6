package cronjob

import (
	"testing"
	"time"
)

// BenchmarkUnmetSchedulesAfterLongOutage: a minutely CronJob whose
// controller was down for a week (10,080 missed runs).
func BenchmarkUnmetSchedulesAfterLongOutage(b *testing.B) {
	now := time.Date(2026, 3, 8, 10, 3, 10, 0, time.UTC)
	cj := cronJob("* * * * *", now.Add(-7*24*time.Hour), nil, nil)
	s, err := ParseSchedule(cj)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		UnmetSchedules(cj, s, now)
	}
}
