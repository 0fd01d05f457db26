package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/bundle"
	"github.com/spf13/cobra"
)

func (m *Main) releaseBundleCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "bundle RELEASE -o FILE",
		Short: "Write a release's signed evidence bundle for auditors (in-toto statement in a DSSE envelope)",
		Long: `Write the evidence bundle of a release: an in-toto Statement v1 whose subject
is the release's artifact (by sha256) and whose predicate
(` + shipgate.BundlePredicateType + `) holds the release's frozen content and
digest, its approvals, policy decisions, checklist with who ticked what,
evidence digests and summaries, and its audit events (and its rollback's) with
their chain hashes up to a signed audit checkpoint; in a DSSE envelope signed
with the server's audit-checkpoint key. Check it offline with
` + "`shipgate verify-bundle FILE --public-key KEY`" + `, using the public key you recorded
out of band (docs/governance.md, "The evidence bundle").`,
		Args: oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return shipgate.Errorf(shipgate.EINVALID, "give the file to write: -o FILE (- for stdout)")
			}
			b, err := m.client().ReleaseBundle(cmd.Context(), id)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = m.Stdout.Write(b)
				return err
			}
			if err := writeFileAtomic(out, b); err != nil {
				return err
			}
			fmt.Fprintf(m.Stderr, "wrote the evidence bundle of release %d to %s (%d bytes); check it with: shipgate verify-bundle %s --public-key KEY\n", id, out, len(b), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the file to write the bundle to (- for stdout)")
	return cmd
}

// writeFileAtomic writes b beside path and renames it into place, so a
// failed write leaves no partial bundle behind.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bundle-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func (m *Main) verifyBundleCommand() *cobra.Command {
	var keyArgs, cpFiles []string
	cmd := &cobra.Command{
		Use:   "verify-bundle FILE --public-key KEY [--checkpoint FILE]",
		Short: "Check a release's evidence bundle offline and say what it proves",
		Long: `Check an evidence bundle (` + "`shipgate release bundle`" + `) without any server: the
file must be exactly as the server wrote it; the DSSE signature must verify with
--public-key; the statement must be an in-toto Statement v1 whose subject is the
release's artifact digest; the release's content must hash to its digest; each
audit event must hash to its recorded hash and chain (prev_hash) into the audit
checkpoint, whose signature must verify with the same key. Prints what that
proves; exits 1 with the reason on any failure.

--checkpoint FILE holds the bundle to checkpoints archived outside the server
(a webhook sink's bodies, ` + "`audit checkpoint -o FILE --append`" + `): each must be
signed by --public-key, and each within the bundle's stretch of chain must have
the hash the bundle gives that seq — which rules out a log rewritten before the
bundle's own checkpoint was signed.

Give the key you recorded out of band (ed25519:… as ` + "`audit public-key`" + ` prints,
PEM, its -o json, or a file holding any of those): a key fetched from the
server whose bundle you are checking proves nothing.`,
		Args: oneArg("a bundle file", "release bundle"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := m.jsonOutput(); err != nil {
				return err
			}
			if len(keyArgs) == 0 {
				return shipgate.Errorf(shipgate.EINVALID, "give the public key the bundle must be signed by: --public-key KEY (recorded out of band; `shipgate audit public-key` prints it)")
			}
			keys, err := readBundleKeys(keyArgs)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			data, err := bundle.Read(f)
			f.Close()
			if err != nil {
				return err
			}
			var archived []shipgate.AuditCheckpoint
			for _, name := range cpFiles {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				cps, err := shipgate.ReadAuditCheckpoints(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				archived = append(archived, cps.Checkpoints...)
			}
			rep, err := bundle.VerifyWith(data, keys, archived)
			if err != nil {
				return err
			}
			return m.render(rep, func(w io.Writer) error {
				_, err := io.WriteString(w, rep.Text())
				return err
			})
		},
	}
	cmd.Flags().StringArrayVar(&keyArgs, "public-key", nil, "public key the bundle must be signed by: ed25519:…, PEM, `audit public-key -o json`, or a file holding one (repeatable across a key change)")
	cmd.Flags().StringArrayVar(&cpFiles, "checkpoint", nil, "a file of checkpoints archived outside the server to hold the bundle to (repeatable)")
	m.addOutputFlag(cmd)
	return cmd
}

// readBundleKeys reads --public-key values as readPublicKeys does, and
// also the -o json of `audit public-key` (its public_key field).
func readBundleKeys(args []string) ([]shipgate.AuditPublicKey, error) {
	texts := make([]string, len(args))
	for i, a := range args {
		text := a
		if b, err := os.ReadFile(a); err == nil {
			text = string(b)
		}
		var j struct {
			PublicKey string `json:"public_key"`
		}
		if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") && json.Unmarshal([]byte(t), &j) == nil && j.PublicKey != "" {
			text = j.PublicKey
		}
		texts[i] = text
	}
	return readPublicKeys(texts)
}
