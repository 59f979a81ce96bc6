package images

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

var webBuild struct {
	once sync.Once
	bin  []byte
	err  error
}

// buildWebBinary compiles ./web as a static linux/amd64 binary, once per
// process.
func buildWebBinary() ([]byte, error) {
	webBuild.once.Do(func() { webBuild.bin, webBuild.err = compileWeb() })
	return webBuild.bin, webBuild.err
}

func compileWeb() ([]byte, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("web image: cannot locate the source of test/images")
	}
	src := filepath.Join(filepath.Dir(self), "web")
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		return nil, fmt.Errorf("web image: source not found at %s: build from a skiff checkout: %w", src, err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	tmp, err := os.MkdirTemp("", "skiff-web-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "web")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("web image: go build in %s: %w\n%s", src, err, msg)
	}
	return os.ReadFile(out)
}
