package cronjob

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

func cronJob(schedule string, created time.Time, last *time.Time, deadline *int64) *api.CronJob {
	cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "report", CreationTimestamp: created}}
	cj.Spec.Schedule = schedule
	cj.Spec.TimeZone = api.Ptr("UTC")
	cj.Spec.StartingDeadlineSeconds = deadline
	cj.Status.LastScheduleTime = last
	return cj
}

func TestUnmetSchedules(t *testing.T) {
	at := func(hm string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05", "2026-03-01 "+hm)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	now := at("10:03:10")
	tests := []struct {
		name         string
		cj           *api.CronJob
		count        int
		latest, next string
	}{
		{"since creation", cronJob("* * * * *", at("10:00:30"), nil, nil), 3, "10:03:00", "10:04:00"},
		{"since the last run", cronJob("* * * * *", at("09:00:00"), api.Ptr(at("10:02:00")), nil), 1, "10:03:00", "10:04:00"},
		{"nothing due", cronJob("*/5 * * * *", at("10:00:30"), nil, nil), 0, "", "10:05:00"},
		{"deadline skips old runs", cronJob("* * * * *", at("09:00:00"), api.Ptr(at("09:00:00")), api.Int64Ptr(90)), 2, "10:03:00", "10:04:00"},
		{"deadline passed for the latest run", cronJob("* * * * *", at("09:00:00"), api.Ptr(at("09:00:00")), api.Int64Ptr(5)), 0, "", "10:04:00"},
		{"more than 100 missed: the latest", cronJob("* * * * *", at("07:00:00"), nil, nil), MaxMissedSchedules + 1, "10:03:00", "10:04:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSchedule(tt.cj)
			if err != nil {
				t.Fatal(err)
			}
			m := UnmetSchedules(tt.cj, s, now)
			latest := ""
			if !m.Latest.IsZero() {
				latest = m.Latest.UTC().Format("15:04:05")
			}
			if m.Count != tt.count || latest != tt.latest || m.Next.UTC().Format("15:04:05") != tt.next {
				t.Fatalf("count %d latest %q next %s; want %d %q %s", m.Count, latest, m.Next.UTC().Format("15:04:05"), tt.count, tt.latest, tt.next)
			}
		})
	}
}

func TestScheduleInTimeZone(t *testing.T) {
	cj := cronJob("0 9 * * *", time.Time{}, nil, nil)
	cj.Spec.TimeZone = api.Ptr("America/New_York")
	s, err := ParseSchedule(cj)
	if err != nil {
		t.Fatal(err)
	}
	winter := s.Next(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC))
	summer := s.Next(time.Date(2026, 7, 10, 0, 0, 0, 0, time.UTC))
	if winter.UTC().Hour() != 14 || summer.UTC().Hour() != 13 {
		t.Fatalf("09:00 New York = %s and %s UTC, want 14:00 and 13:00", winter.UTC(), summer.UTC())
	}
	cj.Spec.TimeZone = api.Ptr("Mars/Olympus")
	if _, err := ParseSchedule(cj); err == nil {
		t.Fatal("an unknown time zone parsed")
	}
}

func TestJobNameIsDeterministic(t *testing.T) {
	cj := cronJob("* * * * *", time.Time{}, nil, nil)
	run := time.Date(2026, 3, 1, 10, 3, 0, 0, time.UTC)
	if got, want := JobName(cj, run), fmt.Sprintf("report-%d", run.Unix()/60); got != want {
		t.Fatalf("JobName = %s, want %s", got, want)
	}
}

func TestExpiredJobs(t *testing.T) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var jobs []*api.Job
	add := func(name string, hour int, cond string) {
		j := &api.Job{ObjectMeta: api.ObjectMeta{Name: name}}
		j.Status.StartTime = api.Ptr(base.Add(time.Duration(hour) * time.Hour))
		if cond != "" {
			j.Status.Conditions = []api.JobCondition{{Type: cond, Status: api.ConditionTrue}}
		}
		jobs = append(jobs, j)
	}
	add("ok-3", 3, "Complete")
	add("ok-1", 1, "Complete")
	add("ok-2", 2, "Complete")
	add("fail-1", 1, "Failed")
	add("fail-2", 2, "Failed")
	add("running", 0, "")
	cj := cronJob("* * * * *", base, nil, nil)
	cj.Spec.SuccessfulJobsHistoryLimit = api.Int32Ptr(1)
	cj.Spec.FailedJobsHistoryLimit = api.Int32Ptr(1)
	var got []string
	for _, j := range ExpiredJobs(cj, jobs) {
		got = append(got, j.Name)
	}
	if fmt.Sprint(got) != "[ok-1 ok-2 fail-1]" {
		t.Fatalf("expired %v, want [ok-1 ok-2 fail-1]", got)
	}
}
