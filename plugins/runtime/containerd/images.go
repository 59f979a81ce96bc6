package containerd

import (
	"context"
	"fmt"
	"io"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
)

// DefaultPullPolicy is Kubernetes' default for an unset policy: Always for
// an untagged or :latest reference, IfNotPresent otherwise.
func DefaultPullPolicy(ref string) PullPolicy {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return PullIfNotPresent
	}
	if _, digested := named.(reference.Digested); digested {
		return PullIfNotPresent
	}
	if tagged, ok := named.(reference.Tagged); !ok || tagged.Tag() == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

// normalizeRef turns "busybox" into "docker.io/library/busybox:latest", the
// name containerd stores images under. An unparsable reference is returned
// as is, for containerd to reject with its own message.
func normalizeRef(ref string) string {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return ref
	}
	return named.String()
}

// EnsureImage makes ref present and unpacked according to policy (empty
// means DefaultPullPolicy). Registries on loopback (127.0.0.1:PORT/...,
// localhost:PORT/...) are reached over plain HTTP.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy PullPolicy) (Image, error) {
	ctx = r.ns(ctx)
	if _, err := reference.ParseDockerRef(ref); err != nil {
		return Image{}, fmt.Errorf("image %q: invalid reference: %w", ref, err)
	}
	if policy == "" {
		policy = DefaultPullPolicy(ref)
	}
	name := normalizeRef(ref)
	switch policy {
	case PullAlways:
	case PullIfNotPresent, PullNever:
		img, err := r.client.GetImage(ctx, name)
		if err == nil {
			return r.unpacked(ctx, img)
		}
		if !errdefs.IsNotFound(err) {
			return Image{}, fmt.Errorf("image %q: %w", ref, err)
		}
		if policy == PullNever {
			return Image{}, fmt.Errorf("image %q: %w", ref, ErrImageNeverPull)
		}
	default:
		return Image{}, fmt.Errorf("image %q: unknown pull policy %q: use Always, IfNotPresent or Never", ref, policy)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	img, err := r.client.Pull(ctx, name,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.cfg.Snapshotter),
		containerd.WithPlatformMatcher(platforms.Default()),
	)
	if err != nil {
		return Image{}, &PullError{Ref: ref, Message: err.Error()}
	}
	return r.imageInfo(ctx, img)
}

// unpacked unpacks img into the snapshotter when it is not yet.
func (r *Runtime) unpacked(ctx context.Context, img containerd.Image) (Image, error) {
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err == nil && !ok {
		err = img.Unpack(ctx, r.cfg.Snapshotter)
	}
	if err != nil {
		return Image{}, fmt.Errorf("image %q: unpack: %w", img.Name(), err)
	}
	return r.imageInfo(ctx, img)
}

// imageInfo describes a present image, with the USER of its config (read
// once per digest) for the agent's runAsNonRoot check.
func (r *Runtime) imageInfo(ctx context.Context, img containerd.Image) (Image, error) {
	res, err := r.images.resolve(ctx, img)
	if err != nil {
		return Image{}, fmt.Errorf("image %q: %w", img.Name(), err)
	}
	return Image{Ref: img.Name(), ID: res.id, User: res.config.User}, nil
}

// ImportImage loads an OCI or docker-save tar archive for linux/amd64 and
// unpacks every image in it.
func (r *Runtime) ImportImage(ctx context.Context, archive io.Reader) ([]Image, error) {
	ctx = r.ns(ctx)
	imported, err := r.client.Import(ctx, archive,
		containerd.WithImportPlatform(platforms.Default()),
		containerd.WithImageRefTranslator(normalizeRef))
	if err != nil {
		return nil, fmt.Errorf("import image archive: %w", err)
	}
	if len(imported) == 0 {
		return nil, fmt.Errorf("import image archive: no tagged image for %s in it", platforms.DefaultString())
	}
	out := make([]Image, 0, len(imported))
	for _, rec := range imported {
		img, err := r.unpacked(ctx, containerd.NewImageWithPlatform(r.client, rec, platforms.Default()))
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// RemoveImage deletes ref from containerd; a missing image is not an error.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	err := r.client.ImageService().Delete(r.ns(ctx), normalizeRef(ref))
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %q: %w", ref, err)
	}
	return nil
}
