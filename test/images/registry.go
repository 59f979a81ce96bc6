package images

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ServeRegistry starts an in-memory registry on 127.0.0.1 (plain HTTP),
// pushes each image under its "repository:tag" key and returns the
// registry's host:port. The registry stops when the test ends.
func ServeRegistry(t testing.TB, push map[string]v1.Image) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("registry: listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	host := l.Addr().String()
	for repoTag, img := range push {
		if err := Push(host+"/"+repoTag, img); err != nil {
			t.Fatalf("registry: %v", err)
		}
	}
	return host
}

// Push uploads img to ref over plain HTTP with the registry API's monolithic
// upload (blobs, then the manifest). It is meant for loopback test
// registries: no authentication, no TLS.
func Push(ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	base := "http://" + tag.RegistryStr() + "/v2/" + tag.RepositoryStr()
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	for _, l := range layers {
		digest, err := l.Digest()
		if err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("push %s: layer %s: %w", ref, digest, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("push %s: layer %s: %w", ref, digest, err)
		}
		if err := pushBlob(base, digest, data); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	if err := pushBlob(base, cfgName, cfg); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	if err := do(http.MethodPut, base+"/manifests/"+tag.TagStr(), string(mediaType), manifest, http.StatusCreated); err != nil {
		return fmt.Errorf("push %s: manifest: %w", ref, err)
	}
	return nil
}

func pushBlob(base string, digest v1.Hash, data []byte) error {
	resp, err := http.Post(base+"/blobs/uploads/", "", nil)
	if err != nil {
		return fmt.Errorf("blob %s: start upload: %w", digest, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("blob %s: start upload: registry answered %s", digest, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("blob %s: upload location: %w", digest, err)
	}
	target := resp.Request.URL.ResolveReference(loc)
	q := target.Query()
	q.Set("digest", digest.String())
	target.RawQuery = q.Encode()
	return do(http.MethodPut, target.String(), "application/octet-stream", data, http.StatusCreated)
}

func do(method, url, contentType string, body []byte, want int) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: registry answered %s: %s", method, url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
