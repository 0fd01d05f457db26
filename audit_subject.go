package shipgate

import (
	"strconv"
	"strings"
)

// Audit subjects name what an event is about: "release/12", "user/alice",
// "agent/web-1". They are part of every event's chain hash and are read
// back (the audit list per release, notifications), so each kind is
// spelled here once; a subject once written must never change spelling.

// ReleaseSubject is the subject of events about release id.
func ReleaseSubject(id int64) string { return "release/" + strconv.FormatInt(id, 10) }

// ReleaseIDOf reads the release id back from a subject made by
// ReleaseSubject; ok is false for any other subject.
func ReleaseIDOf(subject string) (id int64, ok bool) {
	s, ok := strings.CutPrefix(subject, "release/")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return id, true
}

// ServiceSubject is the subject of events about a service's file.
func ServiceSubject(name string) string { return "service/" + name }

// UserSubject is the subject of events about a user and their tokens.
func UserSubject(name string) string { return "user/" + name }

// GroupSubject is the subject of events about a group's members.
func GroupSubject(name string) string { return "group/" + name }

// AgentSubject is the subject of events about a named agent.
func AgentSubject(name string) string { return "agent/" + name }

// AgentTokenSubject is the subject of events about an agent token.
func AgentTokenSubject(id int64) string { return "agent-token/" + strconv.FormatInt(id, 10) }

// LeaderSubject is the subject of events about the leader lease named name.
func LeaderSubject(name string) string { return "leader/" + name }

// KeySubject is the subject of events about the key every server of a
// database shares, named name ("secret").
func KeySubject(name string) string { return "key/" + name }
