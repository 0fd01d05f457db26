package main

import (
	"errors"
	"strings"
	"syscall"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

// hint is what to do about err, for the errors a newcomer meets first;
// "" when there is nothing to add to the error itself. ran is the command
// that failed (nil when none was found).
func (m *Main) hint(ran *cobra.Command, err error) string {
	if ran != nil && ran.CommandPath() == "shipgate agent" {
		// The agent joins with a join token, not a user token.
		if shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED {
			return "the agent joins with a join token (" + shipgate.AgentTokenPrefix + "…) from --token, $SHIPGATE_AGENT_TOKEN or $SHIPGATE_TOKEN, in that order; an admin lists them with `shipgate agent token list` and creates one with `shipgate agent token create` (a token may have expired or been revoked)"
		}
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is the server running? start one with `shipgate serve`, or give its URL with --server or $SHIPGATE_SERVER (now " + client.RedactURL(m.serverURL()) + ")"
	case strings.Contains(err.Error(), "did not answer like shipgate"):
		return "give the shipgate server's URL with --server or $SHIPGATE_SERVER (now " + client.RedactURL(m.serverURL()) + ")"
	case strings.Contains(err.Error(), "outside the directories this server takes artifacts from"):
		return "start the server with --artifact-root DIR (repeatable; by default it takes artifacts only from the directory it was started in), or pass an http(s) URL as --artifact"
	case shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED && strings.HasPrefix(m.userToken(), shipgate.AgentTokenPrefix):
		return "that is an agent join token (" + shipgate.AgentTokenPrefix + "…); commands need a user token (" + shipgate.TokenPrefix + "…): an admin creates one with `shipgate token create --user NAME`"
	case shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED && strings.HasPrefix(m.userToken(), shipgate.AgentSecretPrefix):
		return "that is an agent's own secret (" + shipgate.AgentSecretPrefix + "…); commands need a user token (" + shipgate.TokenPrefix + "…): an admin creates one with `shipgate token create --user NAME`"
	case shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED && m.userToken() == "":
		return "no token given: pass --token or set $SHIPGATE_TOKEN (an admin creates tokens with `shipgate token create --user NAME`; the first admin's token is the one `shipgate serve` printed on its first start)"
	case shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED:
		return "the server refused the token of --token or $SHIPGATE_TOKEN (unknown, revoked or expired); lost every admin token? stop the server and run `shipgate admin reset-token --data DIR`"
	}
	return ""
}
