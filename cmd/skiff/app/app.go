// Package app is the skiff CLI: kubectl-shaped commands over the API client.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// Version is the CLI's version, set at build time with
// -ldflags "-X github.com/skiff-sh/skiff/cmd/skiff/app.Version=v0.1.0".
var Version = "v0.0.0-dev"

// Streams are where a command reads and writes.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// options are the global flags and what commands share.
type options struct {
	Streams
	server     string
	configPath string
	namespace  string
	token      string

	client *client.Client
	now    func() time.Time
}

// Main runs the CLI with the process's arguments and streams and returns
// the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
}

// Run executes one command line and returns the exit code: 0 on success,
// 1 after printing one error line to ErrOut.
func Run(ctx context.Context, args []string, streams Streams) int {
	o := &options{Streams: streams, now: time.Now}
	root := newRootCommand(o)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	if err := root.ExecuteContext(ctx); err != nil {
		// A remote command's exit code (exec) becomes skiff's, as kubectl.
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			fmt.Fprintln(streams.ErrOut, err)
			return coded.ExitCode()
		}
		if !errors.Is(err, errReported) {
			fmt.Fprintln(streams.ErrOut, FormatError(err))
		}
		return 1
	}
	return 0
}

// errReported means the command already printed its errors (e.g. one per
// failed object) and only the exit code remains to set.
var errReported = errors.New("errors reported")

// FormatError renders an error as kubectl does: server errors as
// `Error from server (NotFound): deployments.apps "x" not found`, others as
// `error: ...`.
func FormatError(err error) string {
	var f formatted
	if errors.As(err, &f) {
		return string(f)
	}
	var st *api.Status
	if errors.As(err, &st) {
		reason := string(st.Reason)
		if reason == "" {
			reason = "Unknown"
		}
		return fmt.Sprintf("Error from server (%s): %s", reason, oneLine(st.Message))
	}
	return "error: " + oneLine(err.Error())
}

// formatted is an error message already in its final form.
type formatted string

func (f formatted) Error() string { return string(f) }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func newRootCommand(o *options) *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "skiff controls a skiff cluster",
		Long:          "skiff controls a skiff cluster: apply manifests, inspect and change objects.\nConfiguration: --config, else $SKIFF_CONFIG, else ~/.skiff/config.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&o.server, "server", "", "API server URL (overrides the config file)")
	f.StringVar(&o.configPath, "config", "", "client config file (default $SKIFF_CONFIG, else ~/.skiff/config)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the request (default \"default\")")
	f.StringVar(&o.token, "token", "", "bearer token (overrides the config file)")
	root.AddCommand(
		newGetCommand(o), newApplyCommand(o), newCreateCommand(o), newDeleteCommand(o),
		newDescribeCommand(o), newLabelCommand(o), newScaleCommand(o), newEditCommand(o),
		newVersionCommand(o), newClusterInfoCommand(o), newCompletionCommand(root),
	)
	root.AddCommand(newPluginsCommand(o))
	root.AddCommand(newLogsCommand(o), newExecCommand(o), newImageCommand(o))
	root.AddCommand(newRolloutCommand(o))
	root.AddCommand(newSetCommand(o))
	return root
}

// Client connects lazily so commands that need no server (completion,
// help) work without a config.
func (o *options) Client() (*client.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := o.loadConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

func (o *options) loadConfig() (*client.Config, error) {
	path := o.configPath
	if path == "" {
		path = client.DefaultConfigPath()
	}
	cfg, err := client.LoadConfig(path)
	switch {
	case err == nil:
	case o.server != "" && o.configPath == "" && errors.Is(err, os.ErrNotExist):
		// --server alone is enough for a server with a trusted certificate.
		cfg = &client.Config{}
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no client config at %s; copy DATA_DIR/admin.conf from the server there, or pass --config or --server", path)
	default:
		return nil, err
	}
	if o.server != "" {
		cfg.Server = o.server
	}
	if o.token != "" {
		cfg.Token = o.token
	}
	return cfg, nil
}

// Namespace is -n, else "default".
func (o *options) Namespace() string {
	if o.namespace == "" {
		return "default"
	}
	return o.namespace
}
