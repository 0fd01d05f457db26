package reconcile

import (
	"context"
	"log/slog"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/decide"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Reconciler is the loop that reconciles every active release: on start,
// whenever something changes, at each release's wake time, and at least
// every PollInterval as a backstop.
type Reconciler struct {
	DB           *sqlstore.DB
	Logger       *slog.Logger
	PollInterval time.Duration
	// Changed is notified after every pass that changed something, so
	// waiting runners look for work.
	Changed *Signal

	kick Signal
}

// NewReconciler returns a reconciler over db.
func NewReconciler(db *sqlstore.DB, logger *slog.Logger) *Reconciler {
	return &Reconciler{DB: db, Logger: logger, PollInterval: 5 * time.Second, Changed: &Signal{}}
}

// Kick asks for a pass as soon as possible.
func (r *Reconciler) Kick() { r.kick.Notify() }

// Run loops until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	for {
		kicked := r.kick.C()
		wake, err := r.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("reconcile pass failed", "err", err)
		}
		next := r.PollInterval
		if !wake.IsZero() {
			next = min(next, max(time.Until(wake), 0)+time.Millisecond)
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kicked:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce reconciles every active release once and returns the earliest
// wake time among them. Releases whose plan is empty are only read; only
// releases with something to change take the write lock.
func (r *Reconciler) RunOnce(ctx context.Context) (time.Time, error) {
	var ids []int64
	err := r.DB.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		ids, err = tx.ActiveReleaseIDs(ctx)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	var earliest time.Time
	changedAny := false
	firstErr := r.expireFlagChanges(ctx)
	for _, id := range ids {
		var wake time.Time
		var empty bool
		err := r.DB.View(ctx, func(tx *sqlstore.Tx) error {
			obs, err := Observe(ctx, tx, id)
			if err != nil {
				return err
			}
			plan, err := decide.Decide(obs, decide.Tick{}, tx.Now())
			wake, empty = plan.Wake, plan.Empty()
			return err
		})
		if err == nil && !empty {
			var changed bool
			err = r.DB.Update(ctx, func(tx *sqlstore.Tx) error {
				var err error
				wake, changed, err = Release(ctx, tx, id)
				return err
			})
			changedAny = changedAny || changed
		}
		if err != nil {
			if shipgate.ErrorCode(err) == shipgate.ECONFLICT {
				r.Kick() // someone changed it under us; look again soon
				continue
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !wake.IsZero() && (earliest.IsZero() || wake.Before(earliest)) {
			earliest = wake
		}
	}
	if changedAny && r.Changed != nil {
		r.Changed.Notify()
	}
	return earliest, firstErr
}
