package main

import (
	"fmt"
	"io"
	"os"

	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) applyCommand() *cobra.Command {
	var file string
	var allowUnknownGroups bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Apply a service file; an unchanged file is a no-op",
		Long: `Apply a service file; an unchanged file is a no-op.

A file whose approvals.from_groups names a group that has no members is
refused with file:line (nobody could approve releases there); add the
group's first member with "shipgate group add GROUP --user NAME", or pass
--allow-unknown-groups to apply it anyway (audited, with a warning).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if file == "" {
					return fmt.Errorf("apply takes the file with -f: shipgate apply -f %s", args[0])
				}
				return fmt.Errorf("apply takes one file, with -f (%q is extra)", args[0])
			}
			if file == "" {
				return fmt.Errorf("apply needs -f FILE (use - for standard input)")
			}
			var src []byte
			var err error
			name := file
			if file == "-" {
				src, err = io.ReadAll(os.Stdin)
				name = "stdin"
			} else {
				src, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			res, err := m.client().ApplyFile(cmd.Context(), client.ApplyRequest{Filename: name, Source: string(src), AllowUnknownGroups: allowUnknownGroups})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(m.Stderr, "warning:", w)
			}
			return m.render(res, func(w io.Writer) error {
				rev := res.Revision
				if res.Changed {
					fmt.Fprintf(w, "service %s: revision %d applied (%s)\n", rev.Service, rev.Revision, short(rev.Digest))
				} else {
					fmt.Fprintf(w, "service %s: unchanged (revision %d)\n", rev.Service, rev.Revision)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "service file to apply")
	cmd.Flags().BoolVar(&allowUnknownGroups, "allow-unknown-groups", false, "apply even if from_groups names groups without members (audited; warns)")
	m.addOutputFlag(cmd)
	return cmd
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19] + "…"
	}
	return digest
}
