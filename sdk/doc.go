// Package sdk is skiff's plugin contract: what a plugin is (a Descriptor and a
// Factory), the extension points it can implement, and the arguments it is
// configured with. The contracts themselves live in one package per extension
// point (scheduler, admission, controller, network, proxy, runtime); abi holds
// the wire format shared by the process and WASM loaders, process the
// go-plugin Serve helper and guest the WASM guest SDK.
//
// The sdk imports nothing from skiff's core or plugins, so a plugin author
// depends on the contract only. The same plugin value can be compiled into
// skiffd (builtin), served from its own binary (process.Serve) or built as a
// wasip1 module (guest.Register): see sdk/RATIONALE.md and
// docs/writing-a-scheduler-plugin.md.
package sdk
