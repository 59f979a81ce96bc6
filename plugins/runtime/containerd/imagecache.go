package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/oci"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// resolvedImage is what creating a container needs from its image, read
// once per image digest: containerd's own options (oci.WithImageConfig,
// containerd.WithNewSnapshot) read the manifest and config three times
// per container and mount the rootfs to read /etc/passwd and /etc/group.
type resolvedImage struct {
	name   string
	id     string // the image's target digest, reported as imageID
	config ocispec.ImageConfig
	// rootfs is the chain ID of the unpacked layers, the parent of every
	// container's snapshot.
	rootfs string
}

// imageUser is the process user an image's rootfs resolves to.
type imageUser struct {
	key  string // image digest and the user string it was resolved for
	user specs.User
}

// imageCache holds resolved images by target digest, and users by image
// digest and user string. Entries never go stale: a digest names immutable
// content. A retagged name resolves to a new digest.
type imageCache struct {
	mu     sync.Mutex
	images map[digest.Digest]resolvedImage
	users  map[string]specs.User
}

// resolve returns the image's config and rootfs chain ID, reading them
// from the content store the first time a digest is seen.
func (c *imageCache) resolve(ctx context.Context, image containerd.Image) (resolvedImage, error) {
	target := image.Target().Digest
	c.mu.Lock()
	res, ok := c.images[target]
	c.mu.Unlock()
	if ok {
		res.name = image.Name()
		return res, nil
	}
	desc, err := image.Config(ctx)
	if err != nil {
		return resolvedImage{}, err
	}
	if desc.MediaType != ocispec.MediaTypeImageConfig && desc.MediaType != images.MediaTypeDockerSchema2Config {
		return resolvedImage{}, fmt.Errorf("unknown image config media type %s", desc.MediaType)
	}
	raw, err := content.ReadBlob(ctx, image.ContentStore(), desc)
	if err != nil {
		return resolvedImage{}, err
	}
	var img ocispec.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return resolvedImage{}, fmt.Errorf("decode image config: %w", err)
	}
	if len(img.RootFS.DiffIDs) == 0 {
		return resolvedImage{}, fmt.Errorf("image config has no layers (rootfs.diff_ids)")
	}
	res = resolvedImage{name: image.Name(), id: target.String(), config: img.Config, rootfs: identity.ChainID(img.RootFS.DiffIDs).String()}
	c.mu.Lock()
	if c.images == nil {
		c.images = map[digest.Digest]resolvedImage{}
	}
	c.images[target] = res
	c.mu.Unlock()
	return res, nil
}

// withSnapshot prepares the container's writable snapshot on the image's
// unpacked layers, as containerd.WithNewSnapshot does without re-reading
// the image.
func withSnapshot(snapshotter, key string, img resolvedImage) containerd.NewContainerOpts {
	return func(ctx context.Context, client *containerd.Client, c *containers.Container) error {
		if _, err := client.SnapshotService(snapshotter).Prepare(ctx, key, img.rootfs); err != nil {
			return fmt.Errorf("prepare snapshot on image %s layers: %w", img.name, err)
		}
		c.Snapshotter, c.SnapshotKey, c.Image = snapshotter, key, img.name
		return nil
	}
}

// withImageConfig applies the image's environment and working directory
// and user (an OCI user string: the image's USER, or what the pod's
// runAsUser/runAsGroup make of it) to the spec, as oci.WithImageConfig does
// (the caller sets the process arguments). The user's ids and
// supplementary groups come from the rootfs (/etc/passwd, /etc/group),
// which containerd mounts to read: that happens once per image and user,
// and later containers reuse the result.
func (c *imageCache) withImageConfig(img resolvedImage, user string) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		env := img.config.Env
		if len(env) == 0 {
			env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		}
		s.Process.Env = mergeEnv(env, s.Process.Env)
		s.Process.Cwd = img.config.WorkingDir
		if s.Process.Cwd == "" {
			s.Process.Cwd = "/"
		}
		key := img.id + "\x00" + user
		c.mu.Lock()
		u, ok := c.users[key]
		c.mu.Unlock()
		if ok {
			s.Process.User = u
			s.Process.User.AdditionalGids = append([]uint32(nil), u.AdditionalGids...)
			return nil
		}
		if err := resolveUser(user)(ctx, client, ctr, s); err != nil {
			return fmt.Errorf("image %s: user %q: %w", img.name, user, err)
		}
		c.mu.Lock()
		if c.users == nil {
			c.users = map[string]specs.User{}
		}
		u = s.Process.User
		u.AdditionalGids = append([]uint32(nil), u.AdditionalGids...)
		c.users[key] = u
		c.mu.Unlock()
		return nil
	}
}

// resolveUser is oci.WithImageConfig's user handling: the image's user, or
// root, with the supplementary groups its /etc/group gives them.
func resolveUser(user string) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if user == "" {
			return oci.WithAdditionalGIDs("root")(ctx, client, c, s)
		}
		if err := oci.WithUser(user)(ctx, client, c, s); err != nil {
			return err
		}
		return oci.WithAdditionalGIDs(strconv.FormatUint(uint64(s.Process.User.UID), 10))(ctx, client, c, s)
	}
}

// mergeEnv is defaults overridden or extended by the pod's variables,
// keeping the defaults' order.
func mergeEnv(defaults, overrides []string) []string {
	out := append([]string(nil), defaults...)
	index := map[string]int{}
	for i, kv := range out {
		index[envName(kv)] = i
	}
	for _, kv := range overrides {
		if i, ok := index[envName(kv)]; ok {
			out[i] = kv
			continue
		}
		index[envName(kv)] = len(out)
		out = append(out, kv)
	}
	return out
}

func envName(kv string) string {
	name, _, _ := strings.Cut(kv, "=")
	return name
}
