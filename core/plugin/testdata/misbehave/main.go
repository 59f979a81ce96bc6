// Command misbehave is a WASM score guest for the host's tests: the pod's
// "test/mode" annotation makes it loop forever, panic (a trap), exhaust its
// memory limit, return an error or report its collector settings (GOGC and
// the soft memory limit as the first two scores); otherwise it scores each
// node by slot.
package main

import (
	"context"
	"errors"
	"runtime/debug"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/guest"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

type misbehave struct{}

var sink [][]byte

func (misbehave) Score(_ context.Context, pod *scheduler.Pod, _ []*scheduler.Node, cand []int32, out []int64) error {
	switch pod.Annotations.Value("test/mode") {
	case "loop":
		for n := 0; ; n++ {
			if n < 0 {
				break
			}
		}
	case "panic":
		panic("misbehave: asked to panic")
	case "oom":
		for {
			sink = append(sink, make([]byte, 16<<20))
		}
	case "error":
		return errors.New("misbehave: asked to fail")
	case "gc":
		gogc := debug.SetGCPercent(100)
		debug.SetGCPercent(gogc)
		out[0], out[1] = int64(gogc), debug.SetMemoryLimit(-1)
		return nil
	}
	for i, c := range cand {
		out[i] = int64(c)
	}
	return nil
}

func init() {
	guest.Register(sdk.NewDescriptor("misbehave", sdk.PointScore), func(sdk.Args, sdk.Handle) (any, error) {
		return misbehave{}, nil
	})
}

func main() {}
