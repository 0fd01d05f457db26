package judgesim

import (
	"math"
	"testing"
)

func TestCurve(t *testing.T) {
	steps := Curve{Points: []Point{{0, 1}, {60, 5}, {90, 1}}}
	ramp := Curve{Points: []Point{{0, 0.005}, {1200, 0.02}}, Linear: true}
	for _, c := range []struct {
		c    Curve
		at   float64
		want float64
	}{
		{steps, -1, 1}, {steps, 0, 1}, {steps, 59.9, 1}, {steps, 60, 5}, {steps, 89, 5}, {steps, 90, 1}, {steps, 1e6, 1},
		{ramp, 0, 0.005}, {ramp, 600, 0.0125}, {ramp, 1200, 0.02}, {ramp, 5000, 0.02},
		{Const(3), 12345, 3},
	} {
		if got := c.c.At(c.at); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%v) = %v, want %v", c.at, got, c.want)
		}
	}
}
