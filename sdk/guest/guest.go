// Package guest is the WASM guest SDK. A guest is a Go package main built
// with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm .
//
// that registers its plugin in an init function and has an empty main:
//
//	func init() { guest.Register(zonepref.Descriptor, zonepref.New) }
//	func main() {}
//
// The package exports the ABI functions the host calls (skiff_abi_version,
// skiff_malloc, skiff_call), owns the guest's input and output buffers and
// decodes requests with the hand-written abi decoder, so a plugin sees only
// the typed contract (scheduler.Pod, scheduler.Node, admission.Request).
//
// A panic in the plugin is not recovered: it traps the instance, which the
// host discards and replaces with a fresh one.
package guest

import (
	"log/slog"
	"os"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/abi"
)

// ABIVersion is returned by skiff_abi_version; the host refuses other values.
const ABIVersion = 2

var dispatcher *abi.Dispatcher

// Register makes factory the module's plugin. Call it once, from an init
// function: the host calls the module's exports right after _initialize.
func Register(desc sdk.Descriptor, factory sdk.Factory) {
	if dispatcher != nil {
		panic("guest.Register called twice: a WASM module serves one plugin")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("plugin", desc.Name)
	dispatcher = abi.NewDispatcher(desc, factory, sdk.LoggerHandle{Log: log})
}
