package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func newImageCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images on nodes"}
	var nodeName string
	imp := &cobra.Command{
		Use:     "import FILE.tar [--node NODE]",
		Short:   "Upload an OCI or docker-save image archive to nodes' runtimes",
		Example: "  skiff image import web.tar\n  skiff image import web.tar --node worker-1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nodes := []string{nodeName}
			if nodeName == "" {
				c, err := o.Client()
				if err != nil {
					return err
				}
				list, err := client.List[*api.Node](cmd.Context(), c, "", client.ListOptions{})
				if err != nil {
					return err
				}
				nodes = nodes[:0]
				for _, n := range list.Items {
					nodes = append(nodes, n.Name)
				}
				if len(nodes) == 0 {
					return fmt.Errorf("no nodes registered: start an agent first")
				}
			}
			for _, n := range nodes {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				resp, err := o.rawRequest(cmd.Context(), http.MethodPost, "/api/v1/nodes/"+url.PathEscape(n)+"/images", nil, f, "application/x-tar")
				f.Close()
				if err != nil {
					return fmt.Errorf("node %s: %w", n, err)
				}
				var images []struct{ Ref string }
				err = json.NewDecoder(resp.Body).Decode(&images)
				resp.Body.Close()
				if err != nil {
					return fmt.Errorf("node %s: reading the import result: %w", n, err)
				}
				for _, img := range images {
					fmt.Fprintf(o.Out, "node/%s: imported %s\n", n, img.Ref)
				}
			}
			return nil
		},
	}
	imp.Flags().StringVar(&nodeName, "node", "", "import on this node only (default: every node)")
	cmd.AddCommand(imp)
	return cmd
}
