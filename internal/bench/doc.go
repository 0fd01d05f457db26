// Package bench is what `shipgate bench` runs beyond parsing its flags: the
// router benchmark (its backend and proxy child processes, the open-loop
// load generator, wrk and nginx, the report) and the printing of the judge
// benchmark, whose simulation lives in internal/judgesim.
package bench
