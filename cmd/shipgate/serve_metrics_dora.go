package main

import (
	"time"

	"github.com/shipgate/shipgate/internal/promexport"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// doraWindow is the trailing window the DORA gauges cover.
const doraWindow = 30 * 24 * time.Hour

// doraSource computes the DORA gauges' report from db.
func doraSource(db *sqlstore.DB) promexport.DORASource {
	return nil
}
