package judgesim

import "sort"

// Point is one value of a Curve from a time on.
type Point struct {
	At    float64 // seconds since the canary started
	Value float64
}

// Curve is a quantity as a function of time: constant, a staircase of
// steps, or a piecewise-linear ramp. Before the first point it holds the
// first value, after the last the last.
type Curve struct {
	Points []Point
	Linear bool
}

// Const is a constant curve.
func Const(v float64) Curve { return Curve{Points: []Point{{0, v}}} }

// At evaluates the curve at t seconds.
func (c Curve) At(t float64) float64 {
	ps := c.Points
	switch {
	case len(ps) == 0:
		return 0
	case t <= ps[0].At:
		return ps[0].Value
	case t >= ps[len(ps)-1].At:
		return ps[len(ps)-1].Value
	}
	i := sort.Search(len(ps), func(i int) bool { return ps[i].At > t }) // ps[i-1].At <= t < ps[i].At
	a, b := ps[i-1], ps[i]
	if !c.Linear {
		return a.Value
	}
	return a.Value + (b.Value-a.Value)*(t-a.At)/(b.At-a.At)
}
