package shipgate

// SDK keys (issue 15): what an OpenFeature SDK presents to the OFREP
// endpoints. A key is read-only and belongs to one environment: it lets
// its holder evaluate that environment's flags and nothing else, so it is
// fit to ship inside an application (even a browser one).

// SDKKeyPrefix starts every SDK key, so leaked keys are easy to find with
// secret scanners and never taken for an API token.
const SDKKeyPrefix = "sgf_"

// NewSDKKeySecret returns a fresh SDK key: the prefix and 160 random bits.
func NewSDKKeySecret() string { return NewSecret(SDKKeyPrefix) }

// SDKKeyDisplayPrefix is the non-secret start of a key kept to tell keys
// apart in lists: the prefix and 8 characters (40 of the 160 bits).
func SDKKeyDisplayPrefix(secret string) string {
	if n := len(SDKKeyPrefix) + 8; len(secret) > n {
		return secret[:n]
	}
	return secret
}

// ValidateSDKKey checks what a person chooses of a new key.
func ValidateSDKKey(env, name string) error {
	if err := ValidateName("environment", env); err != nil {
		return err
	}
	if name == "" {
		return Errorf(EINVALID, "an SDK key needs a name")
	}
	return ValidateLine("SDK key name", name, 100)
}
