// Package sqlstore keeps shipgate's state in SQL: embedded SQLite by default,
// PostgreSQL for teams that run several servers. One implementation serves
// both; the differences (placeholders, identity columns, row locks) live in a
// small dialect value and in per-engine migration files.
//
// Every change goes through DB.Update, which opens one transaction, takes the
// audit chain's head lock, and commits the change together with the audit
// events that record it. A change is never visible without its events and an
// event never exists without its change.
package sqlstore
