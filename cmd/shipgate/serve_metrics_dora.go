package main

import (
	"context"
	"time"

	"github.com/shipgate/shipgate/internal/dora"
	"github.com/shipgate/shipgate/internal/promexport"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// doraWindow is the trailing window the DORA gauges cover: the same 30
// days `shipgate metrics dora` reports by default.
const doraWindow = 30 * 24 * time.Hour

// doraSource computes the DORA gauges' report from db's audit chain, over
// every service and environment, in one read transaction. promexport
// calls it at most once a minute, never per scrape.
func doraSource(db *sqlstore.DB) promexport.DORASource {
	return func(ctx context.Context) (dora.Report, error) {
		var rep dora.Report
		err := db.View(ctx, func(tx *sqlstore.Tx) error {
			until := tx.Now()
			q := dora.Query{Since: until.Add(-doraWindow), Until: until}
			hist, err := tx.DORAHistory(ctx, q.Since, q.Until, sqlstore.DORAFilter{})
			if err != nil {
				return err
			}
			rep = dora.Compute(hist, q)
			return nil
		})
		return rep, err
	}
}
