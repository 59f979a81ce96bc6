// Command misbehave is a WASM score guest for the host's tests: the pod's
// "test/mode" annotation makes it loop forever, panic (a trap), exhaust its
// memory limit or return an error; otherwise it scores each node by slot.
package main

import (
	"context"
	"errors"

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
