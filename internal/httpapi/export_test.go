package httpapi

import (
	"context"
	"sync"
)

// HoldMetricsSlots takes every slot metrics reports are computed in, as if
// that many were running; release gives them back (once, however often
// it is called).
func HoldMetricsSlots() (release func()) {
	var held []func()
	for range cap(metricsSlots) {
		rel, _ := acquireMetrics(context.Background())
		held = append(held, rel)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, rel := range held {
				rel()
			}
		})
	}
}
