package cronjob

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/skiff-sh/skiff/core/api"
)

// MaxMissedSchedules is how many missed runs are counted before the
// controller warns (TooManyMissedTimes) and starts only the latest, as
// Kubernetes does.
const MaxMissedSchedules = 100

// Schedule is a CronJob's parsed schedule in its time zone.
type Schedule struct {
	sched cron.Schedule
	loc   *time.Location
}

// ParseSchedule parses spec.schedule in spec.timeZone (the controller's
// local zone when unset, as in Kubernetes).
func ParseSchedule(cj *api.CronJob) (*Schedule, error) {
	sched, err := api.ParseCronSchedule(cj.Spec.Schedule)
	if err != nil {
		return nil, fmt.Errorf("cronjob %q: spec.schedule %q: %v", cj.Key(), cj.Spec.Schedule, err)
	}
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil && *tz != "" {
		if loc, err = time.LoadLocation(*tz); err != nil {
			return nil, fmt.Errorf("cronjob %q: spec.timeZone %q: unknown time zone: %v", cj.Key(), *tz, err)
		}
	}
	return &Schedule{sched: sched, loc: loc}, nil
}

// Next is the first run time strictly after t.
func (s *Schedule) Next(t time.Time) time.Time { return s.sched.Next(t.In(s.loc)) }

// Missed describes the runs due between the last one and now.
type Missed struct {
	// Latest is the most recent run time due, zero when none is.
	Latest time.Time
	// Count is how many were due (counting stops past MaxMissedSchedules).
	Count int
	// Next is the first run time after now.
	Next time.Time
}

// UnmetSchedules finds the runs of cj due by now: after its last scheduled
// time (or its creation), and no earlier than startingDeadlineSeconds ago.
func UnmetSchedules(cj *api.CronJob, s *Schedule, now time.Time) Missed {
	earliest := cj.CreationTimestamp
	if t := cj.Status.LastScheduleTime; t != nil {
		earliest = *t
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if floor := now.Add(-time.Duration(*d) * time.Second); floor.After(earliest) {
			// Runs older than the deadline can no longer start: skip them.
			// One exactly at the floor is still on time.
			earliest = floor.Add(-time.Nanosecond)
		}
	}
	var m Missed
	for t := s.Next(earliest); !t.After(now); t = s.Next(t) {
		m.Latest = t
		m.Count++
		if m.Count > MaxMissedSchedules {
			// Jump to the latest run instead of walking years of minutes.
			m.Latest = latestBefore(s, now, t)
			break
		}
	}
	m.Next = s.Next(now)
	return m
}

// latestBefore is the last run time at or before now, given one (from) that
// is; it searches backwards in growing windows.
func latestBefore(s *Schedule, now, from time.Time) time.Time {
	for window := time.Hour; ; window *= 2 {
		start := now.Add(-window)
		if !start.After(from) {
			start = from
		}
		var last time.Time
		for t := s.Next(start.Add(-time.Nanosecond)); !t.After(now); t = s.Next(t) {
			last = t
		}
		if !last.IsZero() {
			return last
		}
		if !start.After(from) {
			return from
		}
	}
}

// JobName is the deterministic name of the Job for the run at t:
// "<cronjob>-<minutes since the epoch>", so a restarted controller never
// starts one run twice.
func JobName(cj *api.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}
