package config

import (
	"path/filepath"

	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// Evidence configures how the server treats evidence attached to
// releases (server config `evidence:`).
type Evidence struct {
	Signature EvidenceSignature
}

// EvidenceSignature is what Sigstore bundles attached as signature
// evidence are verified against, offline: a public key file, or a
// Sigstore trusted_root.json with the certificate identity and issuer
// keyless signatures must carry. Relative paths are relative to the
// config file. Unset, signature evidence is refused.
type EvidenceSignature struct {
	PublicKey   string
	TrustedRoot string
	Identity    string
	Issuer      string
}

// Configured reports whether any signature verification is configured.
func (s EvidenceSignature) Configured() bool { return s.PublicKey != "" || s.TrustedRoot != "" }

func (p *parser) evidence(v *yaml.Node, path string, out *Evidence) {
	s := &out.Signature
	p.mapping(v, path, "evidence", map[string]fieldFunc{
		"signature": func(v *yaml.Node, path string) {
			p.mapping(v, path, "signature", map[string]fieldFunc{
				"public_key":   func(v *yaml.Node, path string) { s.PublicKey = p.configPath(p.str(v, path, "public_key")) },
				"trusted_root": func(v *yaml.Node, path string) { s.TrustedRoot = p.configPath(p.str(v, path, "trusted_root")) },
				"identity":     func(v *yaml.Node, path string) { s.Identity = p.str(v, path, "identity") },
				"issuer":       func(v *yaml.Node, path string) { s.Issuer = p.str(v, path, "issuer") },
			})
			line := p.lineOf(path)
			switch {
			case s.PublicKey != "" && s.TrustedRoot != "":
				p.failAt(line, "evidence.signature: give public_key or trusted_root, not both")
			case s.PublicKey == "" && s.TrustedRoot == "":
				p.failAt(line, "evidence.signature: give public_key (a PEM file) or trusted_root (a Sigstore trusted_root.json)")
			case s.TrustedRoot != "" && (s.Identity == "" || s.Issuer == ""):
				p.failAt(line, "evidence.signature: trusted_root needs identity and issuer: who must have signed (a certificate of anybody proves nothing)")
			case s.PublicKey != "" && (s.Identity != "" || s.Issuer != ""):
				p.failAt(line, "evidence.signature: identity and issuer are for trusted_root; a public_key is the identity")
			}
		},
	})
}

// configPath resolves a path in the config file against the file's
// directory.
func (p *parser) configPath(s string) string {
	if s == "" || filepath.IsAbs(s) || p.file == "" {
		return s
	}
	return filepath.Join(filepath.Dir(p.file), s)
}

// stepEvidence reads a step's evidence: a list of {type, path, name}.
func (p *parser) stepEvidence(v *yaml.Node, path string) []shipgate.StepEvidence {
	var out []shipgate.StepEvidence
	p.sequence(v, path, "evidence", func(i int, n *yaml.Node, path string) {
		var e shipgate.StepEvidence
		p.mapping(n, path, "evidence", map[string]fieldFunc{
			"type": func(v *yaml.Node, path string) { e.Type = p.str(v, path, "type") },
			"path": func(v *yaml.Node, path string) { e.Path = p.str(v, path, "path") },
			"name": func(v *yaml.Node, path string) { e.Name = p.str(v, path, "name") },
		})
		if err := shipgate.ValidateStepEvidence(e); err != nil {
			p.fail(n, "%s", shipgate.ErrorMessage(err))
		}
		out = append(out, e)
	})
	return out
}
