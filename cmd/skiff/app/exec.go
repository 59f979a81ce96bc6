package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiff-sh/skiff/core/node"
)

// exitError carries a remote command's exit code to the process's.
type exitError struct{ code int32 }

func (e *exitError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.code)
}

// ExitCode is the code skiff exits with (see Run).
func (e *exitError) ExitCode() int { return int(e.code) }

func newExecCommand(o *options) *cobra.Command {
	var container string
	var stdin, tty bool
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] [-it] -- COMMAND [ARGS...]",
		Short: "Run a command in a container",
		Example: `  skiff exec web-7d9f -- ls /
  skiff exec -it web-7d9f -- sh`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("usage: skiff exec POD [-c CONTAINER] -- COMMAND [ARGS...]")
			}
			q := url.Values{"command": args[1:]}
			setQuery(q, "container", container)
			in, isTerm := o.In.(*os.File)
			isTerm = isTerm && term.IsTerminal(int(in.Fd()))
			useTTY := tty && isTerm
			if useTTY {
				q.Set("tty", "true")
			}
			if stdin {
				q.Set("stdin", "true")
			}
			bodyR, bodyW := io.Pipe()
			frames := node.NewFrameWriter(bodyW)
			resp, err := o.rawRequest(cmd.Context(), http.MethodPost, o.podPath(args[0], "exec"), q, bodyR, "application/vnd.skiff.exec-stream")
			if err != nil {
				bodyW.Close()
				return err
			}
			defer resp.Body.Close()
			if useTTY {
				state, err := term.MakeRaw(int(in.Fd()))
				if err == nil {
					defer term.Restore(int(in.Fd()), state)
				}
				sendSize(frames, in)
				winch := make(chan os.Signal, 1)
				signal.Notify(winch, syscall.SIGWINCH)
				defer signal.Stop(winch)
				go func() {
					for range winch {
						sendSize(frames, in)
					}
				}()
			}
			if stdin {
				go func() {
					io.Copy(frames.ChannelWriter(node.ChannelStdin), o.In)
					frames.WriteFrame(node.ChannelStdinClose, nil)
				}()
			} else {
				frames.WriteFrame(node.ChannelStdinClose, nil)
			}
			defer bodyW.Close()
			for {
				ch, payload, err := node.ReadFrame(resp.Body)
				if err != nil {
					return fmt.Errorf("exec stream ended before the command's exit status: %w", err)
				}
				switch ch {
				case node.ChannelStdout:
					o.Out.Write(payload)
				case node.ChannelStderr:
					o.ErrOut.Write(payload)
				case node.ChannelExit:
					var exit node.ExitFrame
					if err := json.Unmarshal(payload, &exit); err != nil {
						return fmt.Errorf("exec: bad exit frame: %w", err)
					}
					if exit.Error != "" {
						return fmt.Errorf("exec: %s", exit.Error)
					}
					if exit.ExitCode != 0 {
						return &exitError{code: exit.ExitCode}
					}
					return nil
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "container name (default: the pod's only container)")
	f.BoolVarP(&stdin, "stdin", "i", false, "pass stdin to the command")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a terminal (when stdin is one)")
	return cmd
}

func sendSize(frames *node.FrameWriter, f *os.File) {
	w, h, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return
	}
	data, _ := json.Marshal(map[string]int{"width": w, "height": h})
	frames.WriteFrame(node.ChannelResize, data)
}
