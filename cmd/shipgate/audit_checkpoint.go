package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/checkpoint"
	"github.com/shipgate/shipgate/internal/durable"
	"github.com/spf13/cobra"
)

func (m *Main) auditVerifyCommand() *cobra.Command {
	var files, keyArgs []string
	var progressEvery int64
	cmd := &cobra.Command{
		Use:   "verify [--checkpoint FILE --public-key KEY]",
		Short: "Recompute the whole chain here; exit non-zero naming the first bad event",
		Long: `Fetch the whole audit log, recompute its hash chain on this side and check it
against the head the server recorded. It prints the head it verified (seq and
hash): record it elsewhere.

The log is read as one stream (GET /api/v1/audit/stream) and verified as it
arrives, in constant memory; a stream that is cut off fails. A server from
before the stream is read page by page. On a long chain a progress line goes
to stderr every --progress-every events (default 1,000,000; 0 for none).

The chain alone cannot expose someone who rewrote the database and recomputed
every hash. With --checkpoint, the log is also held to signed checkpoints kept
outside the database (from ` + "`shipgate audit checkpoint`" + `, a webhook sink's archive,
Slack): each must be signed by a --public-key you recorded out of band, and the
log must still contain each checkpoint's event with its hash. A FILE holds one
checkpoint, a JSON array, or JSON Lines; webhook bodies (CloudEvents) count as
the checkpoint they carry, and CloudEvents of other types (the archive of a
sink that gets every event) are skipped and counted ("skipped N other
events"). A line that is not JSON, neither a CloudEvent nor a checkpoint, or
a malformed checkpoint is refused with its line number. Several checkpoints
narrow down where a rewrite starts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			if progressEvery < 0 {
				return fmt.Errorf("--progress-every %d: give a number of events, or 0 for no progress lines", progressEvery)
			}
			if len(files) > 0 && len(keyArgs) == 0 {
				return fmt.Errorf("--checkpoint needs --public-key: the key you recorded out of band (a key fetched from the server you are checking proves nothing)")
			}
			if len(keyArgs) > 0 && len(files) == 0 {
				return fmt.Errorf("--public-key verifies checkpoints: give them with --checkpoint FILE")
			}
			keys, err := readPublicKeys(keyArgs)
			if err != nil {
				return err
			}
			var cps []shipgate.AuditCheckpoint
			skipped := 0
			for _, f := range files {
				archive, err := readCheckpointFile(f)
				if err != nil {
					return err
				}
				got := archive.Checkpoints
				skipped += archive.Skipped
				for i := range got {
					if err := shipgate.VerifyCheckpoint(&got[i], keys); err != nil {
						return &exitError{code: 1, msg: fmt.Sprintf("audit verify FAILED: %s: %v; the checkpoint is refused", f, err)}
					}
				}
				cps = append(cps, got...)
			}
			r, err := m.client().VerifyAuditProgress(cmd.Context(), keys, cps, progressEvery, func(p shipgate.AuditVerification) {
				fmt.Fprintf(m.Stderr, "audit verify: %d events verified so far (up to seq %d)…\n", p.Events, p.HeadSeq)
			})
			if err != nil {
				var se *shipgate.Error
				if asErr(err, &se) {
					return err // could not read the log at all
				}
				f := verifyFailed(r, err)
				if asJSON {
					f.Skipped = skippedField(files, skipped)
					m.printJSON(f)
				}
				msg := fmt.Sprintf("audit verify FAILED after %d good events: %v", r.Events, err)
				if f.LastGoodSeq != nil && f.LastGoodHash != "" {
					msg += fmt.Sprintf("\nlast good event: seq %d hash %s", *f.LastGoodSeq, f.LastGoodHash)
				}
				return &exitError{code: 1, msg: msg}
			}
			if asJSON {
				return m.printJSON(struct {
					OK bool `json:"ok"`
					shipgate.AuditVerification
					Skipped *int `json:"skipped_events,omitempty"`
				}{true, r, skippedField(files, skipped)})
			}
			fmt.Fprintf(m.Stdout, "audit chain OK: %d events verified\n", r.Events)
			fmt.Fprintf(m.Stdout, "head: seq %d hash %s\n", r.HeadSeq, r.HeadHash)
			if len(cps) > 0 && r.Newest != nil {
				fmt.Fprintf(m.Stdout, "checkpoints: %d held, the newest of seq %d signed %s by key %s\n", r.Checkpoints, r.Newest.Seq, fmtTime(r.Newest.At), r.Newest.KeyID)
			}
			if skipped > 0 {
				fmt.Fprintf(m.Stdout, "checkpoint files: skipped %s (CloudEvents of other types)\n", plural(skipped, "other event"))
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&progressEvery, "progress-every", 1_000_000, "print a progress line on stderr after every N events verified (0: none)")
	cmd.Flags().StringArrayVar(&files, "checkpoint", nil, "file of signed checkpoints kept outside the server (repeatable; - for stdin)")
	cmd.Flags().StringArrayVar(&keyArgs, "public-key", nil, "public key the checkpoints must be signed by: ed25519:… as `audit public-key` prints, PEM, or a file holding either (repeatable, e.g. across a key change)")
	m.addOutputFlag(cmd)
	return cmd
}

// verifyFailure is audit verify -o json on a chain that did not verify.
// It names the first broken seq (when the chain itself is broken, not
// merely unreadable) and the last event the verifier vouches for; it has
// no head_seq, since the head is exactly what could not be verified.
type verifyFailure struct {
	OK           bool                      `json:"ok"`
	Error        string                    `json:"error"`
	Events       int64                     `json:"events"`
	BrokenSeq    *int64                    `json:"broken_seq,omitempty"`
	LastGoodSeq  *int64                    `json:"last_good_seq,omitempty"`
	LastGoodHash string                    `json:"last_good_hash,omitempty"`
	Checkpoints  int                       `json:"checkpoints_matched"`
	Newest       *shipgate.AuditCheckpoint `json:"newest_checkpoint,omitempty"`
	Skipped      *int                      `json:"skipped_events,omitempty"`
}

func verifyFailed(r shipgate.AuditVerification, err error) verifyFailure {
	f := verifyFailure{Error: err.Error(), Events: r.Events, Checkpoints: r.Checkpoints, Newest: r.Newest}
	var b *shipgate.AuditChainBroken
	if errors.As(err, &b) {
		f.BrokenSeq, f.LastGoodSeq, f.LastGoodHash = &b.Seq, &b.LastGoodSeq, b.LastGoodHash
		return f
	}
	// The log could not be read to its end (a cut stream, a line that is
	// not an event): everything verified so far is good.
	if r.HeadHash != "" {
		f.LastGoodSeq, f.LastGoodHash = &r.HeadSeq, r.HeadHash
	}
	return f
}

func readPublicKeys(args []string) ([]shipgate.AuditPublicKey, error) {
	var keys []shipgate.AuditPublicKey
	for _, a := range args {
		text := a
		if b, err := os.ReadFile(a); err == nil {
			text = string(b)
		}
		k, err := shipgate.ParseAuditPublicKey(text)
		if err != nil {
			return nil, fmt.Errorf("--public-key %s", shipgate.ErrorMessage(err))
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// skippedField is the skipped_events of audit verify -o json: present
// whenever checkpoint files were read, 0 included.
func skippedField(files []string, skipped int) *int {
	if len(files) == 0 {
		return nil
	}
	return &skipped
}

func readCheckpointFile(name string) (shipgate.CheckpointArchive, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return shipgate.CheckpointArchive{}, fmt.Errorf("--checkpoint: %w", err)
	}
	a, err := shipgate.ReadAuditCheckpoints(bytes.NewReader(b))
	if err != nil {
		return a, fmt.Errorf("--checkpoint %s: %s", name, shipgate.ErrorMessage(err))
	}
	return a, nil
}

func (m *Main) auditCheckpointCommand() *cobra.Command {
	var out string
	var appendTo bool
	cmd := &cobra.Command{
		Use:   "checkpoint [-o FILE [--append]]",
		Short: "Have the server sign the audit head now; write the signed checkpoint as JSON",
		Long: `Ask the server to sign its current audit head and write the signed checkpoint
as one line of JSON, to stdout or to FILE. Keep it outside the server: later,
` + "`shipgate audit verify --checkpoint FILE --public-key KEY`" + ` proves the log still
contains that event with that hash. With --append, FILE collects one line per
checkpoint (for a cron job). If the head has not moved since the last
checkpoint, that checkpoint is returned again.

-o json is the default output (one JSON line on stdout), as for every read
command; any other value of -o is a file name (write ./json for a file named
json).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "text" {
				return fmt.Errorf("a checkpoint is JSON: -o json (the default) prints it, -o FILE writes it (./text for a file named text)")
			}
			if out == "json" {
				out = "" // the format every read command takes; the checkpoint is JSON
			}
			if appendTo && out == "" {
				return fmt.Errorf("--append needs -o FILE")
			}
			cp, err := m.client().AuditCheckpoint(cmd.Context())
			if err != nil {
				return err
			}
			if out == "" {
				return jsonLine(m.Stdout, cp)
			}
			var line bytes.Buffer
			if err := jsonLine(&line, cp); err != nil {
				return err
			}
			// The file is the copy kept outside the server: a crash must
			// not leave it cut, or it would no longer parse.
			if err := writeCheckpointFile(out, line.Bytes(), appendTo); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(m.Stdout, "checkpoint of seq %d (hash %s) written to %s\n", cp.Seq, cp.Hash, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the checkpoint to this file instead of stdout (json: stdout, the default)")
	cmd.Flags().BoolVar(&appendTo, "append", false, "append to the file (one JSON line per checkpoint) instead of replacing it")
	return cmd
}

// writeCheckpointFile replaces path with line, whole or not at all, or
// appends line to it and syncs it before reporting success.
func writeCheckpointFile(path string, line []byte, appendTo bool) error {
	if !appendTo {
		return durable.WriteFile(path, line)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (m *Main) auditPublicKeyCommand() *cobra.Command {
	var keyFile string
	var asPEM bool
	cmd := &cobra.Command{
		Use:   "public-key [--key-file PATH] [--pem]",
		Short: "Print the public key that verifies the server's audit checkpoints",
		Long: `Print the public key the server signs audit checkpoints with (serve prints it
at start too). Record it out of band when you install the server — in your
password manager, your infrastructure repository — and give that copy to
` + "`audit verify --public-key`" + `: a key fetched later from a server you are checking
proves nothing. --key-file derives it from the signing key file on this
machine without asking any server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var key shipgate.AuditPublicKey
			if keyFile != "" {
				s, err := checkpoint.ReadKeyFile(keyFile)
				if err != nil {
					return err
				}
				key = s.PublicKey()
			} else {
				got, err := m.client().AuditPublicKey(cmd.Context())
				if err != nil {
					return err
				}
				if key, err = shipgate.ParseAuditPublicKey(got.PublicKey); err != nil {
					return fmt.Errorf("the server sent a malformed key: %w", err)
				}
			}
			v := struct {
				PublicKey string `json:"public_key"`
				KeyID     string `json:"key_id"`
				PEM       string `json:"pem"`
			}{key.String(), key.ID(), key.PEM()}
			return m.render(v, func(w io.Writer) error {
				if asPEM {
					_, err := io.WriteString(w, v.PEM)
					return err
				}
				_, err := fmt.Fprintln(w, v.PublicKey)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&keyFile, "key-file", "", "derive the key from this audit signing key file (e.g. <data>/audit-signing.key) instead of asking the server")
	cmd.Flags().BoolVar(&asPEM, "pem", false, "print the key as a PEM block (for openssl)")
	m.addOutputFlag(cmd)
	return cmd
}
