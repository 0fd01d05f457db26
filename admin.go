package shipgate

// Offline recovery of admin access: `shipgate admin reset-token` works on
// the store directly while no server runs, so what it does is audited
// under an actor no API token can have.
const (
	// ResetTokenActor is the actor of what reset-token does.
	ResetTokenActor = "local:reset-token"
	// ActionTokenReset records a token created offline to recover admin
	// access, with the host and OS user that ran the command.
	ActionTokenReset = "token.reset"
)
