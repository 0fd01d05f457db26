package shipgate

import "time"

// Notification is one message owed to one sink, kept in the outbox until
// it is delivered or given up (client and store share it).
type Notification struct {
	ID          int64      `json:"id"`
	Sink        string     `json:"sink"`
	EventType   string     `json:"event_type"`
	Subject     string     `json:"subject"`
	AuditSeq    int64      `json:"audit_seq"`
	Payload     string     `json:"payload"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	NextAttempt time.Time  `json:"next_attempt_at"`
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}
