// Command shipgate is the release control plane: the server (serve), and
// the CLI that drives it through the public client package.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(m.Run(ctx, os.Args[1:]))
}

// Main holds what every command needs; tests build one with their own
// writers.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string

	server, token, output string
	// caCert is --ca-cert; tlsConfig, read from it before any command
	// runs, is what the client trusts (nil: the system's roots).
	caCert    string
	tlsConfig *tls.Config
}

// Run executes the command line and returns the process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	// Everything printed passes a termWriter (see term.go).
	stdout, stderr := terminal(m.Stdout), terminal(m.Stderr)
	m.Stdout, m.Stderr = stdout, stderr
	defer stderr.Flush()
	defer stdout.Flush()
	root := m.rootCommand()
	root.SetArgs(args)
	root.SetOut(m.Stdout)
	root.SetErr(m.Stderr)
	if ran, err := root.ExecuteContextC(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(m.Stderr, ee.msg)
			}
			return ee.code
		}
		fmt.Fprintln(m.Stderr, "error:", describe(err))
		if h := m.hint(ran, err); h != "" {
			fmt.Fprintln(m.Stderr, "hint:", h)
		}
		return 1
	}
	return 0
}

// exitError ends the program with a code and an optional message, for
// commands whose outcome is not an error as such (release wait on a failed
// release).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// describe formats an error for people: the code of an API error is
// given as a word, then the message.
func describe(err error) string {
	var te *client.TransportError
	if errors.As(err, &te) { // the client's own finding: no server's code
		return te.Error()
	}
	var e *shipgate.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return err.Error()
}

func (m *Main) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "shipgate",
		Short:         "shipgate is a self-hosted release control plane",
		Long:          "shipgate prepares releases, holds them for the approvals their environment's policy requires, runs their pipelines, and keeps a tamper-evident audit log of every decision.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildInfo().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&m.server, "server", "", "server URL (default $SHIPGATE_SERVER or http://127.0.0.1:8080)")
	root.PersistentFlags().StringVar(&m.token, "token", "", "API token (default $SHIPGATE_TOKEN)")
	root.PersistentFlags().StringVar(&m.caCert, "ca-cert", "", "trust only this CA (PEM) for the server's certificate (default $SHIPGATE_CA_CERT; without either, the system's roots)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if m.caCert == "" {
			m.caCert = m.Getenv("SHIPGATE_CA_CERT")
		}
		if m.caCert == "" {
			return nil
		}
		var err error
		m.tlsConfig, err = clientTLS(m.caCert, "", "", nil)
		return err
	}
	root.AddCommand(
		m.serveCommand(),
		m.applyCommand(),
		m.releaseCommand(),
		m.approveCommand(), m.rejectCommand(), m.cancelCommand(), m.rerunCommand(),
		m.serviceCommand(),
		m.auditCommand(),
		m.userCommand(), m.tokenCommand(), m.groupCommand(),
		m.whoamiCommand(),
		m.agentCommand(),
		m.artifactCommand(),
		m.evidenceCommand(), m.verifyBundleCommand(),
		m.rollbackCommand(),
		m.checklistCommand(), m.freezeCommand(),
		m.flagCommand(),
		m.promoteCommand(),
		m.policyCommand(),
		m.metricsCommand(),
		m.notifyCommand(),
		m.adminCommand(),
		m.versionCommand(),
		m.demoCommand(),
		m.demoAppCommand(),
		m.benchCommand(),
	)
	m.addFlagKeyCommand(root)
	root.SetHelpCommand(helpCommand(root))
	guardSubcommands(root)
	return root
}

// serverURL is --server, else $SHIPGATE_SERVER, else the default.
func (m *Main) serverURL() string {
	if m.server != "" {
		return m.server
	}
	if s := m.Getenv("SHIPGATE_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}

// userToken is --token, else $SHIPGATE_TOKEN.
func (m *Main) userToken() string {
	if m.token != "" {
		return m.token
	}
	return m.Getenv("SHIPGATE_TOKEN")
}

// client builds an API client from flags and environment.
func (m *Main) client() *client.Client {
	c := client.New(m.serverURL(), m.userToken())
	c.UserAgent = "shipgate-cli/" + version
	if m.tlsConfig != nil {
		c.UseTLS(m.tlsConfig)
	}
	return c
}

// addOutputFlag gives a read command its -o flag.
func (m *Main) addOutputFlag(cmd *cobra.Command) {
	enumFlag(cmd, &m.output, "output", "o", "text", "output format", []string{"text", "json"}, "output format")
}

func (m *Main) jsonOutput() (bool, error) {
	switch m.output {
	case "json":
		return true, nil
	case "text", "":
		return false, nil
	}
	return false, fmt.Errorf("unknown output format %q (use text or json)", m.output)
}

func (m *Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// render prints v as JSON with -o json, else calls text. text sees v
// scrubbed: every string reachable from v has its control characters,
// newlines and tabs included, escaped (see scrub), so text may format
// v's fields as it likes. v must be a pointer, slice or map for that to
// reach text.
func (m *Main) render(v any, text func(w io.Writer) error) error {
	asJSON, err := m.jsonOutput()
	if err != nil {
		return err
	}
	if asJSON {
		return m.printJSON(v)
	}
	scrub(v)
	return text(m.Stdout)
}

func (m *Main) whoamiCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the user of the current token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := m.client().Whoami(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(u, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s (roles: %s; groups: %s)\n", u.Name, joinRoles(u.Roles), joinOrNone(u.Groups))
				return err
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}
