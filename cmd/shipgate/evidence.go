package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/evidence"
	"github.com/spf13/cobra"
)

func (m *Main) evidenceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Files and links attached to releases: SBOMs, signatures, coverage, scans, test results",
		Long: `Evidence is attached to a release and kept with it: content-addressed
(sha256), immutable once attached, audited (evidence.added). A file of a known
type is parsed into a summary that policies and checklists read
(input.evidence.coverage.line_percent, input.evidence.scan.high, …), and a
malformed one is refused with the parser's message; nothing is stored then.

Types: sbom (SPDX or CycloneDX JSON), signature (a Sigstore bundle, verified
against the server's configured key for the release's artifact digest),
coverage (Go coverprofile, Cobertura XML, Istanbul json-summary), scan (SARIF),
tests (JUnit XML), link (--url and --title), file (anything else).`,
	}
	cmd.AddCommand(m.evidenceAddCommand(), m.evidenceListCommand(), m.evidenceShowCommand(), m.evidenceDownloadCommand())
	return cmd
}

func (m *Main) evidenceAddCommand() *cobra.Command {
	var typ, file, name, link, title string
	cmd := &cobra.Command{
		Use:   "add RELEASE --type TYPE --file F [--name N] | --type link --url U --title T",
		Short: "Attach a file or a link to a release (release.create permission; audited)",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			if typ == "" {
				return shipgate.Errorf(shipgate.EINVALID, "give the evidence type: --type %s", strings.Join(evidence.Types, "|"))
			}
			if err := evidence.CheckType(typ); err != nil {
				return err
			}
			var e *shipgate.Evidence
			var added bool
			if typ == evidence.TypeLink {
				if file != "" {
					return shipgate.Errorf(shipgate.EINVALID, "a link has no --file: give --url and --title")
				}
				e, added, err = m.client().AddEvidenceLink(cmd.Context(), id, link, title)
			} else {
				if file == "" {
					return shipgate.Errorf(shipgate.EINVALID, "give the file to attach: --file F")
				}
				if link != "" || title != "" {
					return shipgate.Errorf(shipgate.EINVALID, "--url and --title are for --type link")
				}
				content, err := readEvidenceFile(file)
				if err != nil {
					return err
				}
				if name == "" {
					name = filepath.Base(file)
				}
				e, added, err = m.client().AddEvidence(cmd.Context(), id, client.EvidenceFile{Type: typ, Name: name, Content: content})
				if err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			return m.render(e, func(w io.Writer) error {
				if !added {
					fmt.Fprintf(w, "release %d already has these bytes as %s: evidence %d (%s), nothing added\n", id, e.Type, e.ID, e.Name)
					return nil
				}
				fmt.Fprintf(w, "attached evidence %d to release %d: %s %s sha256:%s\n", e.ID, id, e.Type, e.Name, e.SHA256)
				if d := evidence.Describe(e.Type, e.Summary); d != "" {
					fmt.Fprintf(w, "  %s\n", d)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "the evidence type: "+strings.Join(evidence.Types, ", "))
	cmd.Flags().StringVar(&file, "file", "", "the file to attach")
	cmd.Flags().StringVar(&name, "name", "", "the item's name (default: the file's base name)")
	cmd.Flags().StringVar(&link, "url", "", "for --type link: the http(s) URL")
	cmd.Flags().StringVar(&title, "title", "", "for --type link: what the link is")
	m.addOutputFlag(cmd)
	return cmd
}

// readEvidenceFile reads a file to attach, refusing one larger than a
// server takes before reading it all.
func readEvidenceFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, shipgate.Errorf(shipgate.EINVALID, "--file: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, shipgate.Errorf(shipgate.EINVALID, "--file %s is not a regular file", path)
	}
	if st.Size() > evidence.DefaultMaxBytes {
		return nil, shipgate.Errorf(shipgate.ETOOLARGE, "--file %s is %s; evidence files are at most %s", path, bytesString(st.Size()), bytesString(evidence.DefaultMaxBytes))
	}
	return io.ReadAll(io.LimitReader(f, evidence.DefaultMaxBytes+1))
}

func (m *Main) evidenceListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list RELEASE",
		Short: "List a release's evidence with what each item says",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			list, err := m.client().ListEvidence(cmd.Context(), id)
			if err != nil {
				return err
			}
			return m.render(list, func(w io.Writer) error {
				if len(list) == 0 {
					fmt.Fprintf(w, "release %d has no evidence; attach some with: shipgate evidence add %d --type TYPE --file F\n", id, id)
					return nil
				}
				return printEvidenceTable(w, list)
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

func printEvidenceTable(w io.Writer, list []shipgate.Evidence) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tNAME\tSHA256\tADDED BY\tSUMMARY")
	for _, e := range list {
		by := e.AddedBy
		if e.Job != "" {
			by += fmt.Sprintf(" (job %s attempt %d)", e.Job, e.Attempt)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Type, shipgate.EscapeText(e.Name, ""), e.SHA256[:12], by, shipgate.EscapeText(evidence.Describe(e.Type, e.Summary), ""))
	}
	return tw.Flush()
}

func (m *Main) evidenceShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one evidence item: digest, who attached it, its whole summary",
		Args:  oneArg("an evidence ID", "evidence list RELEASE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			e, err := m.client().Evidence(cmd.Context(), id)
			if err != nil {
				return err
			}
			return m.render(e, func(w io.Writer) error {
				fmt.Fprintf(w, "evidence %d of release %d: %s %s\n", e.ID, e.ReleaseID, e.Type, shipgate.EscapeText(e.Name, ""))
				fmt.Fprintf(w, "  sha256:    %s (%s)\n", e.SHA256, bytesString(e.Size))
				by := e.AddedBy
				if e.Job != "" {
					by += fmt.Sprintf(", job %s attempt %d", e.Job, e.Attempt)
				}
				fmt.Fprintf(w, "  added:     %s by %s\n", fmtTime(e.AddedAt), by)
				if d := evidence.Describe(e.Type, e.Summary); d != "" {
					fmt.Fprintf(w, "  summary:   %s\n", shipgate.EscapeText(d, ""))
				}
				keys := make([]string, 0, len(e.Summary))
				for k := range e.Summary {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					v, _ := json.Marshal(e.Summary[k])
					fmt.Fprintf(w, "    %s: %s\n", k, shipgate.EscapeText(string(v), ""))
				}
				return nil
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) evidenceDownloadCommand() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "download ID [--to FILE]",
		Short: "Write an evidence item's bytes to a file (or stdout), checked against its digest",
		Args:  oneArg("an evidence ID", "evidence list RELEASE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			rc, err := m.client().EvidenceContent(cmd.Context(), id)
			if err != nil {
				return err
			}
			defer rc.Close()
			if to == "" || to == "-" {
				_, err = io.Copy(m.Stdout, rc)
				return err
			}
			// Written beside the target and renamed, so a download that
			// fails its digest check leaves no file behind.
			tmp, err := os.CreateTemp(filepath.Dir(to), ".evidence-*")
			if err != nil {
				return err
			}
			_, err = io.Copy(tmp, rc)
			err = errors.Join(err, tmp.Close())
			if err == nil {
				err = os.Rename(tmp.Name(), to)
			}
			if err != nil {
				os.Remove(tmp.Name())
				return err
			}
			fmt.Fprintf(m.Stderr, "wrote evidence %d to %s\n", id, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the file to write (default: stdout)")
	return cmd
}

// printReleaseEvidence is release show's evidence section.
func printReleaseEvidence(w io.Writer, id int64, list []shipgate.Evidence) error {
	if len(list) == 0 {
		fmt.Fprintf(w, "evidence: none (shipgate evidence add %d --type TYPE --file F)\n", id)
		return nil
	}
	fmt.Fprintln(w, "evidence:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range list {
		by := e.AddedBy
		if e.Job != "" {
			by += " (job " + e.Job + ")"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", e.ID, e.Type, shipgate.EscapeText(e.Name, ""), by, shipgate.EscapeText(evidence.Describe(e.Type, e.Summary), ""))
	}
	return tw.Flush()
}
