package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/cmd/skiff/app/printers"
	"github.com/skiff-sh/skiff/core/api"
)

const editHeader = `# Edit the object below. Lines starting with '#' are ignored; saving an
# unchanged file cancels the edit. The update fails with a Conflict if the
# object changed meanwhile: run edit again.
#
`

func newEditCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "edit TYPE NAME | TYPE/NAME",
		Short: "Edit an object as YAML in $EDITOR (else vi) and update it",
		RunE:  func(cmd *cobra.Command, args []string) error { return o.edit(cmd.Context(), args) },
	}
}

func (o *options) edit(ctx context.Context, args []string) error {
	res, name, err := oneTarget(args, "edit")
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	ns := namespaceFor(res, o.Namespace())
	obj, err := c.Get(ctx, res, ns, name)
	if err != nil {
		return err
	}
	var original bytes.Buffer
	original.WriteString(editHeader)
	if err := printers.PrintYAML(&original, []api.Object{obj}, false); err != nil {
		return err
	}
	f, err := os.CreateTemp("", "skiff-edit-*.yaml")
	if err != nil {
		return fmt.Errorf("create the file to edit: %w", err)
	}
	path := f.Name()
	_, werr := f.Write(original.Bytes())
	if cerr := f.Close(); werr != nil || cerr != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %v", path, errors.Join(werr, cerr))
	}
	if err := runEditor(ctx, path, o); err != nil {
		os.Remove(path)
		return err
	}
	edited, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the edited file %s: %w", path, err)
	}
	if bytes.Equal(stripComments(edited), stripComments(original.Bytes())) {
		os.Remove(path)
		fmt.Fprintln(o.Out, "Edit cancelled, no changes made.")
		return nil
	}
	// On failure the file stays so the edit is not lost.
	kept := fmt.Sprintf("; your changes are in %s", path)
	objs, err := api.Decode(edited)
	if err != nil {
		return fmt.Errorf("%s/%s: %s%s", res.TypeName(), name, err, kept) // the client's error, not "from server"
	}
	if len(objs) != 1 {
		return fmt.Errorf("%s/%s: the edited file holds %d objects, want 1%s", res.TypeName(), name, len(objs), kept)
	}
	updated := objs[0]
	if r, ok := api.ResourceFor(updated); !ok || r != res || updated.GetObjectMeta().Name != name {
		return fmt.Errorf("%s/%s: the kind and metadata.name cannot be changed by edit%s", res.TypeName(), name, kept)
	}
	updated.GetObjectMeta().Namespace = ns
	if _, err := c.Update(ctx, updated); err != nil {
		return formatted(FormatError(err) + kept)
	}
	os.Remove(path)
	fmt.Fprintf(o.Out, "%s/%s edited\n", res.TypeName(), name)
	return nil
}

// runEditor runs $EDITOR (which may hold arguments, e.g. "code --wait")
// on path, attached to the terminal.
func runEditor(ctx context.Context, path string, o *options) error {
	editor := strings.Fields(os.Getenv("EDITOR"))
	if len(editor) == 0 {
		editor = []string{"vi"}
	}
	cmd := exec.CommandContext(ctx, editor[0], append(editor[1:], path)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, o.Out, o.ErrOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("editor %q on %s: %w; set $EDITOR to an editor that exits 0 on save", strings.Join(editor, " "), path, err)
	}
	return nil
}

func stripComments(data []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.TrimSpace(bytes.Join(out, []byte("\n")))
}
