package sqlstore

import (
	"context"
	"strings"

	"github.com/shipgate/shipgate"
)

// RunningJob is a job attempt a runner holds now, with the release it
// belongs to: what the agents page shows each runner doing.
type RunningJob struct {
	shipgate.JobRun
	Service, Environment, Version string
}

// maxRunningJobs bounds one read of the running jobs: runners take a few
// jobs each, so more means something is wrong, not that the page needs
// them all.
const maxRunningJobs = 1000

// RunningJobs lists the running jobs of every runner, by runner and job.
func (tx *Tx) RunningJobs(ctx context.Context) ([]RunningJob, error) {
	cols := "j." + strings.ReplaceAll(jobColumns, ", ", ", j.")
	rows, err := tx.queryRows(ctx, `SELECT `+cols+`, r.service, r.environment, r.version FROM jobs j JOIN releases r ON r.id = j.release_id
		WHERE j.state = ? ORDER BY j.runner, j.id LIMIT ?`, shipgate.JobRunning, maxRunningJobs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RunningJob{}
	for rows.Next() {
		var rj RunningJob
		if rj.JobRun, err = scanJob(scanWith(rows, &rj.Service, &rj.Environment, &rj.Version)); err != nil {
			return nil, err
		}
		out = append(out, rj)
	}
	return out, rows.Err()
}

// scanWith scans a row into a scanner's destinations followed by extra.
type extraScanner struct {
	sc    interface{ Scan(...any) error }
	extra []any
}

func (e extraScanner) Scan(dest ...any) error { return e.sc.Scan(append(dest, e.extra...)...) }

func scanWith(sc interface{ Scan(...any) error }, extra ...any) extraScanner {
	return extraScanner{sc: sc, extra: extra}
}
