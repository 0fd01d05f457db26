package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

// flagKeyCommand is "shipgate flag key": the SDK keys OpenFeature SDKs
// present to the OFREP endpoints (docs/flags.md, "Evaluating flags over
// OFREP").
func (m *Main) flagKeyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage SDK keys: read-only keys that evaluate one environment's flags over OFREP (create, revoke: admin)"}
	var env, name, reason string
	create := &cobra.Command{
		Use:   "create --env E [--name N]",
		Short: "Create an SDK key for an environment and print it; it is shown only this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := m.client().CreateSDKKey(cmd.Context(), client.CreateSDKKeyRequest{Environment: env, Name: name})
			if err != nil {
				return err
			}
			return m.render(k, func(w io.Writer) error {
				// The key alone on stdout, as token create prints a token,
				// so KEY=$(shipgate flag key create …) holds just the key.
				if _, err := fmt.Fprintln(w, k.Secret); err != nil {
					return err
				}
				fmt.Fprintf(m.Stderr, "SDK key %d for environment %s (%s). It is shown only this once: store it where your application reads its configuration.\nUse it as \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\" with an OpenFeature OFREP provider pointed at this server.\n",
					k.Key.ID, k.Key.Environment, k.Key.Name)
				return nil
			})
		},
	}
	create.Flags().StringVar(&env, "env", "", "the environment whose flags the key evaluates (required)")
	create.Flags().StringVar(&name, "name", "", "what the key is for, e.g. \"checkout web app\" (default: the environment)")
	create.MarkFlagRequired("env")
	m.addOutputFlag(create)
	list := &cobra.Command{
		Use:   "list [--env E]",
		Short: "List SDK keys with their state and last use (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := m.client().SDKKeys(cmd.Context(), env)
			if err != nil {
				return err
			}
			return m.render(ks, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tENVIRONMENT\tNAME\tPREFIX\tSTATE\tCREATED\tLAST USED")
				for _, k := range ks {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Environment, k.Name, k.Prefix, sdkKeyState(k), fmtTime(k.CreatedAt), fmtTimePtr(k.LastUsedAt))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&env, "env", "", "only this environment's keys")
	m.addOutputFlag(list)
	revoke := &cobra.Command{
		Use:   "revoke ID [--reason R]",
		Short: "Revoke an SDK key for good: OFREP requests with it get 401 from then on",
		Args:  oneArg("an SDK key ID", "flag key list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an SDK key id (see shipgate flag key list)", args[0])
			}
			k, err := m.client().RevokeSDKKey(cmd.Context(), id, reason)
			if err != nil {
				return err
			}
			return m.render(k, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "SDK key %d (%s, environment %s) revoked\n", k.ID, k.Prefix, k.Environment)
				return err
			})
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	m.addOutputFlag(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func sdkKeyState(k shipgate.SDKKey) string {
	if k.RevokedAt != nil {
		return "revoked " + fmtTime(*k.RevokedAt) + " by " + k.RevokedBy
	}
	return "active"
}

// addFlagKeyCommand puts "key" under the "flag" command, making a bare
// "flag" group when no other file has made one yet.
func (m *Main) addFlagKeyCommand(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() == "flag" {
			c.AddCommand(m.flagKeyCommand())
			return
		}
	}
	flag := &cobra.Command{Use: "flag", Short: "Feature flags and the SDK keys that evaluate them"}
	flag.AddCommand(m.flagKeyCommand())
	root.AddCommand(flag)
}
