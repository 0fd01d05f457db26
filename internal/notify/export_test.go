package notify

// The CDEvents schema check (cdevents_test.go), for the external tests
// that read real outbox payloads.
var (
	LoadCDEventsSchemas = loadSchemas
	ValidateCloudEvent  = validateCloudEvent
)
